"""Learner answers for the `train_gru` assignment, as the source of their answer cells: my_gru (pasted
from the gru assignment), the model, the training loop and train_and_predict; right ones, the common
mistakes, and shortcuts that must earn nothing."""
from learner_code import MY_GRU_BATCHED

MY_GRU = MY_GRU_BATCHED

MODEL = '''
class GRUClassifier(nn.Module):
    def __init__(self, F, H, K):
        super().__init__()
        bound = 1 / H ** 0.5
        self.w_ih = nn.Parameter(torch.empty(3 * H, F).uniform_(-bound, bound))
        self.w_hh = nn.Parameter(torch.empty(3 * H, H).uniform_(-bound, bound))
        self.b_ih = nn.Parameter(torch.empty(3 * H).uniform_(-bound, bound))
        self.b_hh = nn.Parameter(torch.empty(3 * H).uniform_(-bound, bound))
        self.head = nn.Linear(H, K)

    def forward(self, x):
        h0 = x.new_zeros(x.shape[0], self.w_hh.shape[1])
        output, h_final = my_gru(x, h0, self.w_ih, self.w_hh, self.b_ih, self.b_hh)
        return self.head(output[:, -1])
'''

TRAIN = '''
def train(model, train_x, train_y, steps=1000, lr=2e-2, batch_size=128, valid=None, every=25, stop_at=None):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"step": [], "accuracy": []}
    for step in range(steps + 1):
        if valid is not None and step % every == 0:
            history["step"].append(step)
            history["accuracy"].append(accuracy(model, *valid))
        check_now = stop_at is not None and step and step % every == 0
        if check_now and accuracy(model, train_x[:500], train_y[:500]) >= stop_at:
            break
        if step == steps:
            break
        batch = torch.randint(0, len(train_x), (batch_size,))
        loss = nn.functional.cross_entropy(model(train_x[batch]), train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return history
'''

TRAIN_AND_PREDICT = '''
def train_and_predict(train_x, train_y, test_x):
    model = GRUClassifier(F, 32, K)
    train(model, train_x, train_y, stop_at=0.99)
    with torch.no_grad():
        return model(test_x)
'''

# What the notebook's setup cell defines, for tests that run the answers outside a notebook.
SETUP = '''
import torch
from torch import nn

K, NOISE = 4, 4
V = K + NOISE
F = V


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()
'''

RIGHT = {"my_gru": MY_GRU, "model": MODEL, "train": TRAIN, "train_and_predict": TRAIN_AND_PREDICT}


def answer(**changes):
    """The right answer cells, with some of them replaced, by grade_id."""
    return {**RIGHT, **changes}


def source(**changes):
    """The whole answer as one source, setup first."""
    return SETUP + "\n".join(answer(**changes).values())


def _replace(cell, old, new):
    assert old in RIGHT[cell], old
    return {cell: RIGHT[cell].replace(old, new)}


# typical mistakes: name -> the answer cells they change
WRONG = {
    # never calls train: the untrained model guesses
    "untrained": _replace("train_and_predict", "    train(model, train_x, train_y, stop_at=0.99)\n", ""),
    # a hand-made cross-entropy, log(softmax(...)), with a large learning rate and no clipping: log(0)
    "diverges": {"train": RIGHT["train"].replace("        nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n", "")
                 .replace("loss = nn.functional.cross_entropy(model(train_x[batch]), train_y[batch])",
                          "probs = torch.softmax(model(train_x[batch]), dim=1)\n        "
                          "loss = -torch.log(probs[torch.arange(batch_size), train_y[batch]]).mean()"),
                 "train_and_predict": RIGHT["train_and_predict"].replace("stop_at=0.99)", "steps=300, lr=10.0)")},
    # output[-1] (the last sequence of the batch) for output[:, -1] (the last time step)
    "last_sequence_for_last_step": _replace("model", "self.head(output[:, -1])", "self.head(output[-1])"),
    # optimizer.step() forgotten (300 steps, not the 1000 a model that never learns would run: a cheaper test)
    "no_optimizer_step": {**_replace("train", "        optimizer.step()\n", ""),
                          **_replace("train_and_predict", "stop_at=0.99)", "steps=300, stop_at=0.99)")},
    # a head of H outputs for K: the argmax lands on classes that do not exist
    "head_too_wide": _replace("model", "nn.Linear(H, K)", "nn.Linear(H, H)"),
}

# shortcuts that must earn nothing
CHEATS = {
    # the built-in GRU in the model
    "nn.GRU": _replace("model", '''        h0 = x.new_zeros(x.shape[0], self.w_hh.shape[1])
        output, h_final = my_gru(x, h0, self.w_ih, self.w_hh, self.b_ih, self.b_hh)''', '''        gru = nn.GRU(self.w_ih.shape[1], self.w_hh.shape[1], batch_first=True)
        output, h_final = gru(x)'''),
    # a hard-coded rule, no learning: "the label is (clue + key) mod K", read off the tokens
    "fixed_rule": {"train_and_predict": '''
def train_and_predict(train_x, train_y, test_x):
    tokens = test_x.argmax(dim=2)  # (N, T)
    clue = tokens[:, :-1].min(dim=1).values  # the one class token (0..K-1) among the noise (K..V-1)
    return nn.functional.one_hot((clue + tokens[:, -1]) % K, K).float() * 10.0
'''},
}

# Models whose head reads one fixed earlier step: the state right after a clue at step 0, or the last
# state before the key (it has seen every clue, never the key). The solution's model and training
# otherwise, with a step budget above what the solution needs (it stopped after 150 to 200 steps on 13 draws).
SHORTCUT_STEPS = 300


def head_on_step(step):
    return {"model": RIGHT["model"].replace("self.head(output[:, -1])", f"self.head(output[:, {step}])"),
            "train_and_predict": RIGHT["train_and_predict"].replace(
                "stop_at=0.99)", f"steps={SHORTCUT_STEPS}, stop_at=0.99)")}


SHORTCUTS = {"output[:, 0]": head_on_step(0), "output[:, -2]": head_on_step(-2)}
