"""train_gru: train_and_predict(train_x, train_y, test_x) -> logits (N_test, K), a model on the
learner's own GRU, retrained from scratch on a task that needs memory: a clue token somewhere in the
first T - 1 steps, a key token at the last step, and the label (clue + key) mod K.

No fixed time step holds the answer: the key arrives last, so the state at any earlier step (the
state right after the clue, output[:, 0], output[:, T // 2], ...) is independent of the label and a
head on it scores chance; the last token alone is independent of it too, so the model must carry the
clue to the last step (up to T - 1 steps, across up to T - 2 noise tokens) and combine it with the
key there.
The clue's place is uniform over the first T - 1 steps: the near clues teach the combination early,
which lets training find it in a few hundred steps (a clue always in the first half, 10 to 19 steps
back, took two to three times as many; one always at step 0 made a head on output[:, 0] pass).

Trusted code, like every assignment: only the judge calls make_inputs and rule_outputs. The judge draws
the sequences with its own secret seed and relabels the K classes with a random derangement (label s
is called perm[s], never s), so that only what is learned from train_y can be right: a hard-coded
"(clue + key) mod K" rule scores 0 %. The held-out labels never leave the judge; it computes the
accuracy from the returned logits alone. The learner's side seeds torch with the case's torch_seed
before the call, so a check is one retrain under a fixed seed.

What no check on outputs can tell apart: a model that is not a GRU (a lookup of (clue, key) learned
from train_y, an MLP on the whole sequence). The exercise's written answer is read by a person, who
reads the notebook's model with it.
"""
from dataclasses import dataclass

import torch
from torch import nn

K, NOISE = 4, 4  # class tokens, noise tokens (chapter 7's names)
V = K + NOISE  # vocabulary: tokens 0..K-1 are classes, K..V-1 are noise
F = V  # each token is fed in as a one-hot vector of V features
T = 20  # time steps of the graded sequences: the clue is 1 to T - 1 = 19 steps before the key
THRESHOLD = 0.9  # held-out accuracy a retrain must reach (guessing: 1 / K)


def make_batch(n, T, generator):
    """n sequences of T tokens: one-hot inputs (n, T, F) and their labels (n,), (clue + key) mod K.
    The clue, a class token, sits at a random step of the first T - 1; the key, a class token too,
    at the last step; noise everywhere else. The notebook has the same generator."""
    tokens = torch.randint(K, V, (n, T), generator=generator)  # (n, T): noise everywhere
    clue = torch.randint(0, K, (n,), generator=generator)  # (n,): the class to remember
    where = torch.randint(0, T - 1, (n,), generator=generator)  # (n,): its step, anywhere before the last
    tokens[torch.arange(n), where] = clue
    key = torch.randint(0, K, (n,), generator=generator)  # (n,): the class it is combined with
    tokens[:, -1] = key  # the key comes last
    return nn.functional.one_hot(tokens, V).float(), (clue + key) % K  # (n, T, F), (n,)


def derangement(generator):
    """A random permutation of the K classes that moves every class."""
    while True:
        perm = torch.randperm(K, generator=generator)
        if not (perm == torch.arange(K)).any():
            return perm


@dataclass(frozen=True)
class TrainCase:
    n_train: int
    n_test: int
    T: int = T
    torch_seed: int = 0  # torch.manual_seed(torch_seed) on the learner's side, just before the call
    dtype: str = "float32"
    device: str = "cpu"
    grad: bool = False
    values: bool = True  # False: the contract only (shape, dtype, device), no accuracy
    profile: bool = False  # no profiler around a training run: it would record a million events

    @property
    def torch_dtype(self):
        return getattr(torch, self.dtype)

    def describe(self, task):
        return (f"{self.n_train} training and {self.n_test} held-out sequences of T={self.T} steps, "
                f"torch.manual_seed({self.torch_seed}) before the call")


class TrainTask:
    name = "train_and_predict"
    arg_names = ("train_x", "train_y", "test_x")  # test_y stays with the judge
    output_names = ("logits",)
    returns = "one tensor logits of shape (N_test, K)"
    has_time = True
    by_hand = False
    mistakes = ()
    blocks = 0
    module_name = "GRU"
    truth = f"held-out accuracy of {THRESHOLD:.0%}"
    # Only the logits' argmax counts: a model trained in float64 (or half precision) is as right.
    dtypes_accepted = ("float64", "float32", "float16", "bfloat16")
    builtins = "nn.GRU, nn.GRUCell, nn.RNN, nn.LSTM, torch.gru, torch._VF"
    write_with = "your own my_gru (matmuls, torch.sigmoid and torch.tanh) inside your model"
    layout_hint = (f"train_x is (N_train, T, F) with F = {F} one-hot features, train_y (N_train,) holds class "
                   f"ids 0..{K - 1}, test_x is (N_test, T, F); the model's head maps the last hidden state "
                   f"(B, H) to K = {K} logits: nn.Linear(H, {K}).")
    equations_hint = ""
    error_hints = (  # (what the error says, what to look at), before diagnose's general ones
        (("to match target batch_size",),
         "The logits and the labels disagree on the batch size: the logits' first axis must be the "
         "batch. Read the last time step as output[:, -1] (batch first); output[-1] is the last sequence "
         "of the batch."),
        (("CUDA", "NVIDIA driver", "cuda"),
         "The grader trains your model on the CPU, where it sees no GPU: keep train_and_predict on the "
         "device of its inputs (train_x.device), or pick one with torch.cuda.is_available(). This model is "
         "small: the CPU trains it in seconds."),
        (("out of bounds", "Target"),
         f"A label is not a valid class for the logits: the head must give K = {K} logits, nn.Linear(H, {K})."),
    )
    parts = {
        "contract": (TrainCase(64, 32, T=6, values=False),),
        "quick": (TrainCase(2000, 1000, torch_seed=0),),
        "seeds": (TrainCase(2000, 1000, torch_seed=1), TrainCase(2000, 1000, torch_seed=2)),
    }

    def arg_names_for(self, case):
        return self.arg_names

    def call_spec(self, case):
        return None

    def make_inputs(self, case, generator):
        perm = derangement(generator)  # secret: label s is called perm[s] in this draw
        train_x, train_label = make_batch(case.n_train, case.T, generator)
        test_x, test_label = make_batch(case.n_test, case.T, generator)
        return {"train_x": train_x, "train_y": perm[train_label], "test_x": test_x, "test_y": perm[test_label]}

    def output_shapes(self, case):
        return {"logits": (case.n_test, K)}

    def letters(self, case):
        return {"logits": "(N_test, K)"}

    def shape_hint(self, case, got):
        if got == (case.n_test, case.T, K):
            return (" It holds logits for every time step: classify from the last one only, "
                    "output[:, -1] (batch first) or h_final.")
        if got in ((case.T, K), (case.n_test, case.T)):
            return " Read the last time step as output[:, -1]: output[-1] is the last sequence of the batch."
        if len(got) == 2 and got[0] == case.n_test:
            return f" The head must give K = {K} logits per sequence: nn.Linear(H, {K})."
        return " Return the model's logits for test_x, one row per held-out sequence."

    def accuracy(self, inputs, logits):
        return (logits.argmax(dim=1) == inputs["test_y"]).double().mean().item()

    def rule_outputs(self, case, inputs, outputs):
        """None if the retrained model's held-out accuracy reaches THRESHOLD, else what to look at."""
        (logits,) = outputs
        if not torch.isfinite(logits).all():
            return ("train_and_predict returned logits with NaN or inf: training diverged. Clip the "
                    "gradient norm (nn.utils.clip_grad_norm_(model.parameters(), 1.0) between backward() "
                    "and step()), lower the learning rate, and check the loss is finite from the first step.")
        accuracy = self.accuracy(inputs, logits)
        if accuracy >= THRESHOLD:
            return None
        reached = (f"train_and_predict's model, trained from scratch, reached {accuracy:.1%} accuracy on the "
                   f"held-out sequences; it needs {THRESHOLD:.0%} (guessing gives {1 / K:.0%}).")
        predicted = logits.argmax(dim=1)
        if accuracy < 0.5 / K:
            return (f"{reached} That is far below guessing: the predictions do not come from train_y. The "
                    f"graded data relabel the classes at random (the label (clue + key) mod K = s is called "
                    f"something other than s), so a hand-written rule earns nothing: learn the labels from "
                    f"train_y.")
        if (predicted == predicted[0]).all():
            return (f"{reached} It predicts the same class for every sequence. {self.not_learning_hint()}")
        if accuracy < 1 / K + 0.1:
            return (f"{reached} It guesses: the clue and the key do not both reach its output (a head on any "
                    f"step but the last sees no key, and scores about {1 / K:.0%}). {self.not_learning_hint()}")
        return (f"{reached} It learned part of the task (some classes, or some sequences). Train for more "
                f"steps or with a larger hidden size, within the time limit, and check your own held-out "
                f"accuracy on sequences of T={case.T} steps. {self.not_learning_hint()}")

    @staticmethod
    def not_learning_hint():
        return ("Where to look: the learning rate (Adam with lr=2e-2 on minibatches of 128 works here) and the "
                "number of steps; gradient clipping; that optimizer.zero_grad(), loss.backward() and "
                "optimizer.step() run every step; that the head reads the LAST time step (output[:, -1] or "
                "h_final: only there has the model seen the key); that the head gives "
                f"K = {K} logits; and that the loss is nn.functional.cross_entropy on the raw logits (it applies "
                "log-softmax itself: a softmax before it slows learning to a crawl).")

    def passed_message(self, cases, inputs, records):
        accuracies = [self.accuracy(i, r["outputs"][0]) for c, i, r in zip(cases, inputs, records) if c.values]
        if not accuracies:
            return None
        return (f"train_and_predict's model, trained from scratch, reached {', '.join(f'{a:.1%}' for a in accuracies)} "
                f"held-out accuracy on {len(accuracies)} fresh draw(s) of the task (T={T}, classes relabelled at "
                f"random; needed: {THRESHOLD:.0%}).")

    def timeout_message(self, case, timeout_s, retrains=1):
        share = (f" The {timeout_s:g} s cover all {retrains} retrains of this check, one after the other: each "
                 f"must finish in under {timeout_s / retrains:g} s." if retrains > 1 else "")
        return (f"train_and_predict did not finish within {timeout_s:g} s on {case.describe(self)}, so it "
                f"was stopped.{share} The grader trains your model from scratch on one CPU thread, and the time "
                f"limit covers all of it: a model of hidden size 32 on minibatches of 128 learns this task in a few "
                f"hundred steps at most, a few seconds, if training stops once the training data are learned (train's "
                f"stop_at). Stop early, reduce the number of steps or the hidden size, train on minibatches rather "
                f"than the whole training set at each step, and keep evaluation, prints and plots out of "
                f"train_and_predict.")


TASKS = (TrainTask(),)
