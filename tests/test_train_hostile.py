"""The `train_gru` assignment attacked as a hostile learner would: through the learner's Validate path
(gru_ref.learner.check.judge_function) and end to end through nbgrader in one batch.

Its checks see only the logits of a retrain: the held-out labels and the relabelling stay with the
judge, but both follow from what the learner's function is given (the label of a sequence is the
relabelled (clue + key) mod K), so a lookup learned from train_y passes. That is accepted, and
flagged for the person who reads the model (gru_ref.grading.integrity.MUST_REACH). What is closed here:
a model whose head reads a fixed earlier step (output[:, 0], the state right after a clue at step 0,
got 10 of 10 when the clue was always first: issue 15) now guesses, and earns no learning point;
built-in recurrent kernels outside aten's namespace ran unseen where a training case goes without the
profiler; logits the tensor file cannot carry crashed the learner's side (and, in the grading box,
the rest of the notebook) with a message about exit(); and a check of two retrains that ran out of
time did not say that its limit is shared."""
import pytest

import course_e2e
from gru_ref.learner.check import judge_function
from gru_ref.grading import integrity, submission

from conftest import define
from train_code import SHORTCUTS, answer

pytestmark = pytest.mark.usefixtures("forks_cleanly")

ASSIGNMENT = "train_gru"
MY_GRU_POINTS, CONTRACT_POINTS, AUTOGRADED = 2.0, 1.0, 10.0

# No model at all: each (clue, key) pair's most frequent label in train_y, read off for test_x.
LOOKUP = '''
def train_and_predict(train_x, train_y, test_x):
    def pair(x):  # the clue (the one class token before the last step, the smallest token) and the key
        tokens = x.argmax(dim=2)
        return tokens[:, :-1].min(dim=1).values * x.shape[2] + tokens[:, -1]
    counts = torch.zeros(train_x.shape[2] ** 2, int(train_y.max()) + 1)
    counts.index_put_((pair(train_x), train_y), torch.ones(len(train_y)), accumulate=True)
    return counts[pair(test_x)]
'''

# The lookup's answer, after one step of a built-in GRU cell: quantized::quantized_gru_cell_dynamic on
# prepacked weights, an operator outside aten's namespace (a fixed random "reservoir" GRU, say).
QUANTIZED_GRU = LOOKUP.replace("def train_and_predict(", "def lookup(") + '''
def train_and_predict(train_x, train_y, test_x):
    H, F = 16, train_x.shape[2]
    w_ih, w_hh, b_ih, b_hh = torch.randn(3 * H, F), torch.randn(3 * H, H), torch.zeros(3 * H), torch.zeros(3 * H)
    packed_ih = torch.ops.quantized.linear_prepack_fp16(w_ih, b_ih)
    packed_hh = torch.ops.quantized.linear_prepack_fp16(w_hh, b_hh)
    h = torch.ops.quantized.quantized_gru_cell_dynamic(test_x[:, 0], test_x.new_zeros(len(test_x), H),
                                                       packed_ih, packed_hh, b_ih, b_hh)
    return lookup(train_x, train_y, test_x) + 0 * h.sum()
'''

# Logits in a form the tensor file cannot carry on the contract's small draw; the lookup's otherwise.
ODD_ON_CONTRACT = LOOKUP.replace("def train_and_predict(", "def lookup(") + '''
def train_and_predict(train_x, train_y, test_x):
    logits = lookup(train_x, train_y, test_x)
    return logits.to_sparse() if len(test_x) < 100 else logits
'''


def verdict(source, parts=("contract",), timeout_s=None):
    return judge_function("train_and_predict", define(source)["train_and_predict"], parts, timeout_s)


@pytest.mark.parametrize("call, kernel", [
    ("torch.ops.quantized.quantized_gru_cell_dynamic(x, h, ih, hh, b_ih, b_hh)", "quantized::quantized_gru_cell_dynamic"),
    ("torch.ops.quantized.quantized_rnn_tanh_cell_dynamic(x, h[:, :16], ih, hh, b_ih, b_hh)",
     "quantized::quantized_rnn_tanh_cell_dynamic"),
    ("torch._C._VariableFunctions.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)", "aten::gru_cell"),
    ("torch.ops.aten.lstm_cell(x, [h, h], torch.randn(64, 8), torch.randn(64, 16))", "aten::lstm_cell"),
])
def test_built_in_recurrent_kernels_are_refused_where_training_runs_without_the_profiler(call, kernel):
    source = LOOKUP.replace("def train_and_predict(", "def lookup(") + f'''
def train_and_predict(train_x, train_y, test_x):
    x, h = test_x[:, 0], test_x.new_zeros(len(test_x), 16)
    w_ih, w_hh, b_ih, b_hh = torch.randn(48, 8), torch.randn(48, 16), torch.zeros(48), torch.zeros(48)
    ih, hh = torch.ops.quantized.linear_prepack_fp16(w_ih, b_ih), torch.ops.quantized.linear_prepack_fp16(w_hh, b_hh)
    {call}
    return lookup(train_x, train_y, test_x)
'''
    result = verdict(source)
    assert not result["passed"]
    assert "reached a built-in recurrent kernel" in result["message"] and kernel in result["message"], result["message"]


@pytest.mark.parametrize("logits, says", [
    ("logits.to(torch.complex64)", "logits has dtype complex64"),
    ("torch.quantize_per_tensor(logits, 0.1, 0, torch.qint8)", "logits has dtype qint8"),
    ("logits.to_sparse()", "logits is a sparse_coo tensor"),
    ("torch.nested.nested_tensor([logits])", "logits is a nested tensor"),
    ("logits.to('meta')", "logits is on the device 'meta'"),
])
def test_logits_the_grader_cannot_carry_fail_with_a_reason_not_a_crash(logits, says):
    source = LOOKUP.replace("def train_and_predict(", "def lookup(") + f'''
def train_and_predict(train_x, train_y, test_x):
    logits = lookup(train_x, train_y, test_x)
    return {logits}
'''
    message = verdict(source)["message"]
    assert says in message and "ended abruptly" not in message, message


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_logits_of_any_float_dtype_are_judged_on_their_accuracy(dtype):
    # A model trained in float64 at 100 % lost 11 of 13 points for its logits' dtype (issue 13): the
    # notebook now says any float dtype will do, and only the argmax counts.
    source = LOOKUP.replace("return counts[", f"return counts.to(torch.{dtype})[")
    result = verdict(source, ("contract", "quick"))
    assert result["passed"] and "reached 100.0%" in result["message"], result["message"]


def test_a_check_of_two_retrains_says_its_time_limit_covers_both():
    source = LOOKUP.replace("def train_and_predict(", "def lookup(") + '''
import time

def train_and_predict(train_x, train_y, test_x):
    time.sleep(1.5)  # each retrain within the limit, the two together past it
    return lookup(train_x, train_y, test_x)
'''
    result = verdict(source, ("seeds",), timeout_s=2)
    assert not result["passed"]
    assert "The 2 s cover all 2 retrains of this check, one after the other: each must finish in under 1 s." \
        in result["message"], result["message"]


def test_a_train_and_predict_that_never_reaches_my_gru_is_flagged_and_the_model_is_not():
    flags = integrity.scan(list(enumerate(answer(train_and_predict=LOOKUP).values())))
    assert [reason for *_, reason in flags if "never reaches my_gru" in reason], flags
    # The right answer reaches my_gru through GRUClassifier's forward and train.
    assert not integrity.scan(list(enumerate(answer().values())))
    # So does a model written as a closure or a lambda in the same notebook.
    inline = answer(model="forward = lambda model, x: model.head(my_gru(x, model.h0(x), *model.weights)[1])",
                    train_and_predict=LOOKUP.replace("return counts", "forward\n    return counts"))
    assert not integrity.scan(list(enumerate(inline.values())))


# The red team's lookup with one line naming my_gru that never runs (issue 13), and its cousins: each
# is flagged. Where the code around my_gru can run (a condition on the data, a method forward calls),
# it is not.
LOOKUP_BODY = LOOKUP.split("):\n", 1)[1]
NEVER_RUN = {
    "if False": LOOKUP.replace("    counts = ", "    if False:\n        my_gru(train_x, None, None, None, None, None)\n"
                               "    counts = "),
    "after the return": LOOKUP + "    my_gru(train_x, None, None, None, None, None)\n",
    "a constant condition": LOOKUP.replace("    counts = ", "    while 1 > 2 or not True:\n        my_gru\n    "
                                           "unused = my_gru if None else 0\n    counts = "),
    "a short-circuit": LOOKUP.replace("    counts = ", "    False and my_gru(train_x)\n    counts = "),
    "a nested function never called": LOOKUP.replace("    counts = ", "    def model(x):\n        return my_gru(x)\n"
                                                     "    counts = "),
    "a top-level function never called": "def model(x):\n    return my_gru(x)\n" + LOOKUP,
    "a method never called": """
class Lookup:
    def fit(self, train_x, train_y):
        counts = torch.zeros(train_x.shape[2], int(train_y.max()) + 1)
        counts.index_put_((train_x[:, 0].argmax(dim=1), train_y), torch.ones(len(train_y)), accumulate=True)
        self.counts = counts
        return self

    def as_a_gru(self, x):
        return my_gru(x, None, None, None, None, None)

    def forward(self, x):
        return self.counts[x[:, 0].argmax(dim=1)]

def train_and_predict(train_x, train_y, test_x):
    return Lookup().fit(train_x, train_y).forward(test_x)
""",
}
CAN_RUN = {
    "a condition on the data": LOOKUP.replace("    counts = ", "    if len(train_x) > 10 ** 9:\n        my_gru(train_x)\n"
                                              "    counts = "),
    "a helper method forward calls": """
class Model(torch.nn.Module):
    def step(self, x):
        return my_gru(x, None, None, None, None, None)

    def forward(self, x):
        return self.step(x)

def train_and_predict(train_x, train_y, test_x):
    return Model()(test_x)
""",
}


@pytest.mark.parametrize("where", sorted(NEVER_RUN))
def test_my_gru_named_only_where_it_never_runs_is_flagged(where):
    flags = integrity.scan(list(enumerate(answer(train_and_predict=NEVER_RUN[where]).values())))
    assert [reason for *_, reason in flags if "train_and_predict never reaches my_gru" in reason], flags


@pytest.mark.parametrize("where", sorted(CAN_RUN))
def test_my_gru_named_where_it_can_run_is_not_flagged(where):
    flags = integrity.scan(list(enumerate(answer(train_and_predict=CAN_RUN[where]).values())))
    assert not [reason for *_, reason in flags if "never reaches" in reason], flags


def test_a_cell_stopped_for_time_says_the_limit_and_how_to_keep_training_out_of_grading():
    """A notebook whose own cells train for minutes: each such cell is stopped at the per-cell limit
    (the cells after it still run and their tests are graded: tests/test_grading.py), and says why."""
    stopped = submission._cell_outputs({"stdout": "", "stderr": "", "error": None, "timed_out": True}, None, 0,
                                       {**submission.LIMITS, "cell_timeout": 30})
    message = stopped[0]["evalue"]
    assert "grading gives each cell 30 s" in message and "grading went on with the next cell" in message
    assert 'if not os.environ.get("NBGRADER_EXECUTION"):' in message


def test_a_check_whose_alarm_was_switched_off_is_still_stopped_at_its_limit():
    """The per-check limit is an alarm in the learner's process: code that ignores SIGALRM (through
    _signal, which no answer needs) ran its check for as long as it liked. The box's template stops it
    from outside, a few seconds past the limit, and the notebook goes on; the scan flags the import."""
    from conftest import ROOT, fill
    from gru_ref.grading.box import Box
    from train_code import MY_GRU
    slow = ("import _signal\n_signal.signal(14, _signal.SIG_IGN)\nimport time\n"
            + MY_GRU.replace("):\n", "):\n    time.sleep(4)\n", 1))
    nb = fill(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", answer(my_gru=slow, train_and_predict=LOOKUP))
    box = Box()
    try:
        result = submission.grade_notebook(nb, box, {"check_timeout": 2, "deadline_s": 60})
    finally:
        box.close()
    assert "my_gru did not return within 2 s" in result["tests"]["test_my_gru"]["message"], result["tests"]
    # That check alone: a fresh process replayed the cells before it and went on (issue 16, item 1).
    assert result["end"]["restarts"] == 1 and result["end"]["completed"], result["end"]
    later = result["tests"]["test_train_and_predict_learns"]["message"]
    assert "was not checked" not in later and "ran past its time limit" not in later, later
    assert [f for f in result["flags"] if f[2] == "import _signal" and "interpreter's internals" in f[3]], result["flags"]


SUBMISSIONS = {
    "head_on_first_step": answer(**SHORTCUTS["output[:, 0]"]),
    "lookup": answer(train_and_predict=LOOKUP),
    "quantized_gru": answer(train_and_predict=QUANTIZED_GRU),
    "odd_on_contract": answer(train_and_predict=ODD_ON_CONTRACT),
    "lookup_naming_my_gru_never_run": answer(train_and_predict=NEVER_RUN["if False"]),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    released = course_e2e.release(tmp_path_factory.mktemp("course_train_hostile"), ASSIGNMENT)
    graded = course_e2e.grade(released.parents[2], ASSIGNMENT, released, SUBMISSIONS)
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{graded['root'] / 'gradebook.db'}") as gradebook:
        graded["flags"] = {s.student.id: "\n".join(c.auto_comment or "" for n in s.notebooks for c in n.comments)
                           for s in gradebook.assignment_submissions(ASSIGNMENT)}
    return graded


def outputs(graded, student):
    return course_e2e.outputs(graded, ASSIGNMENT, student)


def test_the_solution_keeps_full_marks_and_no_flag(graded):
    assert graded["scores"]["instructor"] == AUTOGRADED, outputs(graded, "instructor")
    assert "never reaches" not in graded["flags"]["instructor"], graded["flags"]["instructor"]


def test_a_head_on_the_first_step_keeps_only_the_gru_and_contract_points(graded):
    """Issue 15's shortcut, graded end to end: the three retrains of a head on output[:, 0] guess."""
    result = outputs(graded, "head_on_first_step")
    assert graded["scores"]["head_on_first_step"] == MY_GRU_POINTS + CONTRACT_POINTS, result
    for test in ("test_train_and_predict_learns", "test_train_and_predict_seeds"):
        assert "It guesses: the clue and the key do not both reach its output" in result[test] or \
            "same class for every sequence" in result[test], (test, result[test])


def test_a_lookup_without_a_model_passes_the_checks_but_is_flagged_for_the_reader(graded):
    assert graded["scores"]["lookup"] == AUTOGRADED, outputs(graded, "lookup")  # accepted: see the module doc
    assert "train_and_predict never reaches my_gru" in graded["flags"]["lookup"], graded["flags"]["lookup"]


def test_a_lookup_naming_my_gru_on_a_line_that_never_runs_is_flagged_too(graded):
    # The red team's case (issue 13): every automatic point, as any lookup, and now the flag.
    flags = graded["flags"]["lookup_naming_my_gru_never_run"]
    assert "train_and_predict never reaches my_gru on a path that runs" in flags, flags


def test_a_quantized_built_in_gru_in_the_box_earns_nothing(graded):
    result = outputs(graded, "quantized_gru")
    assert graded["scores"]["quantized_gru"] == MY_GRU_POINTS, result
    for test in ("test_train_and_predict_contract", "test_train_and_predict_learns", "test_train_and_predict_seeds"):
        assert "quantized::quantized_gru_cell_dynamic" in result[test], (test, result[test])


def test_odd_logits_fail_their_check_alone_and_the_notebook_goes_on(graded):
    result = outputs(graded, "odd_on_contract")
    assert "logits is a sparse_coo tensor" in result["test_train_and_predict_contract"], result
    assert graded["scores"]["odd_on_contract"] == AUTOGRADED - CONTRACT_POINTS, result
