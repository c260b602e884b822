"""The `train_gru` assignment's checker, below nbgrader: train_and_predict's source in, verdict and
message out. Each check retrains the model from scratch on a fresh draw of chapter 7's task."""
import pytest
import torch

from gru_ref import check_train_gru
from gru_ref.learner import registry
from gru_ref.learner.check import judge_function, time_limit_s
from gru_ref.judge import Judge
from gru_ref.assignments.train_gru import K, THRESHOLD, TrainTask

from conftest import define
from train_code import CHEATS, RIGHT, SHORTCUTS, WRONG, source

pytestmark = pytest.mark.usefixtures("forks_cleanly")


def verdict(answer_source, parts=("contract", "quick"), timeout_s=None):
    return judge_function("train_and_predict", define(answer_source)["train_and_predict"], parts, timeout_s)


def test_the_solution_passes_every_part_with_its_accuracies():
    result = verdict(source(), ("contract", "quick", "seeds"))
    assert result["passed"], result["message"]
    assert "held-out accuracy on 3 fresh draw(s)" in result["message"]
    assert f"needed: {THRESHOLD:.0%}" in result["message"]


def test_the_notebook_api_prints_and_raises(capsys):
    check_train_gru(define(source())["train_and_predict"], "contract")
    assert "Passed: train_and_predict returns one tensor logits" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="train_and_predict is not a function"):
        check_train_gru(None)


def test_the_held_out_labels_stay_with_the_judge_and_the_classes_are_relabelled():
    judge = Judge("train_and_predict", ("quick",), seed=3)
    index, _ = judge.payload()
    assert index["cases"][0]["arg_count"] == 3  # train_x, train_y, test_x: never test_y
    inputs = judge.inputs[0]
    clue, key = clue_and_key(inputs["train_x"])
    assert not (inputs["train_y"] == (clue + key) % K).any(), "a label kept its own id: a fixed rule would score"
    assert inputs["train_x"].shape == (2000, 20, 8) and inputs["test_y"].shape == (1000,)


def clue_and_key(x):
    """The clue (the one class token before the last step) and the key (the last token) of x (N, T, F)."""
    tokens = x.argmax(dim=2)  # (N, T)
    assert ((tokens[:, :-1] < K).sum(dim=1) == 1).all(), "one clue per sequence, noise elsewhere"
    return tokens[:, :-1].min(dim=1).values, tokens[:, -1]


def lookup_accuracy(inputs, key_of):
    """Held-out accuracy of the best lookup table from key_of(x) to a label, learned on the training draw."""
    train_keys, test_keys = key_of(inputs["train_x"]), key_of(inputs["test_x"])
    counts = torch.zeros(int(max(train_keys.max(), test_keys.max())) + 1, K)
    counts.index_put_((train_keys, inputs["train_y"]), torch.ones(len(train_keys)), accumulate=True)
    return (counts[test_keys].argmax(dim=1) == inputs["test_y"]).double().mean().item()


def test_no_step_but_the_last_holds_the_answer():
    """The label depends on the clue and the key together: all a prefix of the sequence holds (the clue
    and where it is), or the key alone, predicts it no better than guessing; the two together, exactly."""
    inputs = Judge("train_and_predict", ("quick",), seed=13).inputs[0]
    T = inputs["train_x"].shape[1]

    def clue_and_place(x):
        place = (x.argmax(dim=2)[:, :-1] < K).int().argmax(dim=1)
        return clue_and_key(x)[0] * T + place

    assert lookup_accuracy(inputs, clue_and_place) < 1 / K + 0.05
    assert lookup_accuracy(inputs, lambda x: clue_and_key(x)[1]) < 1 / K + 0.05
    assert lookup_accuracy(inputs, lambda x: clue_and_key(x)[0] * K + clue_and_key(x)[1]) == 1.0
    places = (inputs["train_x"].argmax(dim=2)[:, :-1] < K).int().argmax(dim=1)
    assert places.min() == 0 and places.max() == T - 2  # up to T - 2 steps of noise to carry the clue across


@pytest.mark.parametrize("head", sorted(SHORTCUTS))
def test_a_head_on_a_fixed_earlier_step_scores_chance_and_no_point(head):
    """Issue 15: a head on output[:, 0], the state right after the clue, got 10/10. Trained as the
    solution is (with more steps than it needs), a head on step 0 or on the last step before the key
    is judged by the checker's learning test, and guesses."""
    result = verdict(source(**SHORTCUTS[head]), ("quick",))
    assert not result["passed"], result["message"]
    reached = float(result["message"].split("reached ")[1].split("%")[0]) / 100
    assert abs(reached - 1 / K) < 0.06, result["message"]
    assert "It guesses: the clue and the key do not both reach its output" in result["message"] or \
        "It predicts the same class for every sequence" in result["message"], result["message"]


def test_the_check_is_a_retrain_under_the_case_seed():
    """The same answer on the same draw gives the same logits: torch is seeded before each call."""
    judge = Judge("train_and_predict", ("quick",), seed=5)
    task, inputs = judge.task, judge.inputs[0]
    answer = define(source())["train_and_predict"]
    logits = []
    for _ in range(2):
        torch.manual_seed(judge.cases[0].torch_seed)
        logits.append(answer(inputs["train_x"], inputs["train_y"], inputs["test_x"]))
    assert torch.equal(logits[0], logits[1])
    assert task.rule_outputs(judge.cases[0], inputs, [logits[0]]) is None


NOT_LEARNING = ("It predicts the same class for every sequence", "It guesses: the clue and the key")


@pytest.mark.parametrize("name, expected", [
    ("untrained", NOT_LEARNING),  # which of the two depends on the draw and the untrained weights
    ("no_optimizer_step", NOT_LEARNING),
    ("diverges", ("logits with NaN or inf: training diverged. Clip the gradient norm",)),
    ("last_sequence_for_last_step", ("Read the last time step as output[:, -1]",)),
    ("head_too_wide", (f"logits has shape (32, 32); it must be (N_test, K) = (32, {K}). The head must give K = {K}",)),
])
def test_each_common_mistake_fails_with_its_own_hint(name, expected):
    result = verdict(source(**WRONG[name]))
    assert not result["passed"]
    assert any(text in result["message"] for text in expected), result["message"]
    if expected == NOT_LEARNING:
        assert f"it needs {THRESHOLD:.0%}" in result["message"]
        assert "optimizer.step() run every step" in result["message"]


def test_a_builtin_gru_in_the_model_gets_no_credit():
    result = verdict(source(**CHEATS["nn.GRU"]))
    assert not result["passed"]
    assert "built-in recurrent kernel (aten::gru.input)" in result["message"]
    assert "your own my_gru" in result["message"]


def test_a_hard_coded_rule_scores_nothing():
    result = verdict(source(**CHEATS["fixed_rule"]))
    assert not result["passed"]
    assert "reached 0.0% accuracy" in result["message"]
    assert "learn the labels from train_y" in result["message"]


def test_a_model_that_learns_part_of_the_task_is_told_so():
    """Two of the four classes right, the others guessed among two: about 62 %."""
    task = TrainTask()
    judge = Judge("train_and_predict", ("quick",), seed=7)
    inputs = judge.inputs[0]
    labels = inputs["test_y"]
    guesses = torch.where(labels < 2, labels, 2 + torch.arange(len(labels)) % 2)
    message = task.rule_outputs(judge.cases[0], inputs, [torch.nn.functional.one_hot(guesses, K).float()])
    assert "It learned part of the task" in message


def test_training_past_the_time_limit_fails_with_what_to_reduce():
    slow = source(train_and_predict=RIGHT["train_and_predict"].replace("stop_at=0.99)", "steps=10 ** 6)"))
    result = verdict(slow, ("quick",), timeout_s=2)
    assert not result["passed"]
    assert "did not finish within 2 s" in result["message"]
    assert "Stop early, reduce the number of steps or the hidden size" in result["message"]


def test_training_gets_a_time_limit_of_its_own():
    """The other checks keep their 10 s; train_and_predict's comes from gru_ref.learner.registry."""
    assert time_limit_s("train_and_predict") == registry.TIME_LIMITS_S["train_and_predict"] > time_limit_s("my_gru")


def test_the_grader_gives_the_training_checks_their_time_limit_in_the_box():
    """grade_notebook hands the box each check's own time limit: 60 s to train, 10 s for my_gru."""
    import nbformat
    from conftest import ROOT
    from gru_ref.grading.submission import LIMITS, grade_notebook

    class RecordingBox:
        def run(self, job, cases):
            self.job = job
            return [], {"started": True, "completed": True, "exit_code": 0}

    box = RecordingBox()
    nb = nbformat.read(ROOT / "solutions" / "train_gru" / "train_gru.ipynb", as_version=4)
    grade_notebook(nb, box)
    timeouts = {check["function"]: check["timeout"] for point in box.job["checkpoints"] for check in point["checks"]}
    assert timeouts == {"my_gru": LIMITS["check_timeout"], "train_and_predict": registry.TIME_LIMITS_S["train_and_predict"]}


def test_the_notebook_states_the_checkers_numbers():
    """The release notebook's words agree with the checker: threshold, sequence length, time limit."""
    import json
    from conftest import ROOT
    from gru_ref.assignments.train_gru import T
    cells = json.loads((ROOT / "exercises" / "train_gru" / "train_gru.ipynb").read_text())["cells"]
    text = " ".join(" ".join("".join(c["source"]).split()) for c in cells)
    assert f"**{THRESHOLD:.0%} held-out accuracy**".replace("%", " %") in text
    assert f"`T = {T}`" in text and f"T = {T} # time steps of the graded sequences" in text
    assert f"**{registry.TIME_LIMITS_S['train_and_predict']} seconds** on one CPU thread" in text


def test_the_class_report_names_each_way_a_retrain_falls_short():
    from gru_ref.grading.report import diagnosis
    task = TrainTask()
    judge = Judge("train_and_predict", ("quick",), seed=11)
    case, inputs = judge.cases[0], judge.inputs[0]
    n = len(inputs["test_y"])
    one_class = torch.zeros(n, K)
    one_class[:, 1] = 1
    clue, key = clue_and_key(inputs["test_x"])
    fixed_rule = torch.nn.functional.one_hot((clue + key) % K, K).float()
    names = {diagnosis(task.rule_outputs(case, inputs, [logits])) for logits in
             (one_class, fixed_rule, torch.full((n, K), float("nan")))}
    assert names == {"model did not learn (one class for all)", "predictions ignore train_y (a fixed rule)",
                     "training diverged (NaN or inf logits)"}
