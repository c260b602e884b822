"""Chapter 7's experiment: the task, the three models, one training run, and what the runs conclude.

The chapter imports it (the build runs in book/) and shows its code; tools/long_memory_search.py
imports it too, to search for settings and to write the committed runs (long_memory_runs.json), so
that the data the chapter plots and the code the build re-runs are one and the same.
"""
import hashlib
import inspect
import json
import multiprocessing
import os
import sys
from pathlib import Path

import torch
from torch import nn

K = 4                  # classes: every token is one of K class tokens
F = K + 1              # features per step: the token's one-hot (K) and a marker bit
H = 32                 # the GRU's hidden size
BATCH, LR, EVAL_EVERY = 64, 1e-2, 50
N_VAL = 500            # held-out sequences for the accuracy
N_PROBE = 100          # of which the first N_PROBE are used for the gates and the gradient
SOLVED = 0.9           # the accuracy that counts as solving the task
DATA = Path(__file__).with_name("long_memory_runs.json")


def make_batch(n, T, generator, clue_span):
    """n sequences of T tokens, inputs (n, T, F), labels (n,) and the clue's position (n,).

    Every step carries a class token drawn at random, so the noise looks exactly like the clue; only
    the marker bit (the last feature) says which step is the clue. It sits at a random step among
    the first clue_span; the label is the class of the marked token.
    """
    tokens = torch.randint(0, K, (n, T), generator=generator)            # (n, T)
    where = torch.randint(0, clue_span, (n,), generator=generator)       # (n,)
    x = torch.zeros(n, T, F)
    x[..., :K] = nn.functional.one_hot(tokens, K).float()
    x[torch.arange(n), where, K] = 1.0                                    # the marker
    return x, tokens[torch.arange(n), where], where


class Classifier(nn.Module):
    """One recurrent layer, then a linear layer on the last hidden state."""

    def __init__(self, recurrent_layer, hidden_size):
        super().__init__()
        self.rnn = recurrent_layer(F, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, K)

    def forward(self, x):                    # x: (B, T, F)
        output, _ = self.rnn(x)              # (B, T, hidden_size)
        return self.head(output[:, -1])      # (B, K): logits from the last time step


def n_params(layer, hidden_size):
    return sum(p.numel() for p in Classifier(layer, hidden_size).parameters())


def matched_hidden_size(h=H):
    """The vanilla RNN's hidden size whose parameter count is closest to the GRU's with h units."""
    gru = n_params(nn.GRU, h)
    return min(range(1, 4 * h), key=lambda s: abs(n_params(nn.RNN, s) - gru))


MODELS = {  # name: (layer, hidden size)
    "GRU": (nn.GRU, H),
    "RNN, same H": (nn.RNN, H),
    "RNN, same parameters": (nn.RNN, matched_hidden_size()),
}


def update_gate(gru, x):
    """The update gate z of a one-layer nn.GRU at every step: (B, T, H), from its own weights."""
    output, _ = gru(x)                                                   # (B, T, H)
    h_prev = torch.cat([torch.zeros_like(output[:, :1]), output[:, :-1]], dim=1)
    hidden = gru.hidden_size
    w_iz, w_hz = gru.weight_ih_l0[hidden:2 * hidden], gru.weight_hh_l0[hidden:2 * hidden]
    b_z = gru.bias_ih_l0[hidden:2 * hidden] + gru.bias_hh_l0[hidden:2 * hidden]
    return torch.sigmoid(x @ w_iz.T + h_prev @ w_hz.T + b_z)             # gates in r, z, n order


def gradient_kept(model, x, y, where):
    """The median over sequences of |d loss / d h_clue| / |d loss / d h_T|: how much of the gradient at
    the last state reaches the state right after the clue. The sequences are run in two parts, split
    after the clue, so that h_clue is a tensor of its own (B = the sequences with the clue at p)."""
    ratios = []
    for p in where.unique().tolist():
        rows = where == p
        _, h_clue = model.rnn(x[rows, :p + 1])                          # (1, B, hidden): after the clue
        h_clue = h_clue.detach().requires_grad_(True)
        output, _ = model.rnn(x[rows, p + 1:], h_clue)                   # (B, T - p - 1, hidden)
        h_last = output[:, -1]                                           # (B, hidden)
        loss = nn.functional.cross_entropy(model.head(h_last), y[rows], reduction="sum")
        at_clue, at_last = torch.autograd.grad(loss, [h_clue, h_last])   # each sequence's own loss
        ratios.append(at_clue[0].norm(dim=1) / at_last.norm(dim=1))
    return torch.cat(ratios).median().item()


def probe(model, x, y, where):
    """gradient_kept(), and for a GRU its update gate per unit, averaged over sequences: on the noise
    steps after the clue (z_noise, H values) and at the clue's step (z_clue); None for a vanilla RNN."""
    out = {"gradient_kept": gradient_kept(model, x, y, where), "z_noise": None, "z_clue": None}
    if isinstance(model.rnn, nn.GRU):
        with torch.no_grad():
            z = update_gate(model.rnn, x)                                # (n, T, H)
        after = torch.arange(x.shape[1]) > where[:, None]                # (n, T): noise after the clue
        out["z_noise"] = z[after].mean(dim=0).tolist()                   # (H,)
        out["z_clue"] = z[torch.arange(len(x)), where].mean(dim=0).tolist()
    return out


def train(layer, hidden_size, T, seed, steps, clue_span):
    """Train one model; its held-out accuracy and probe() every EVAL_EVERY steps."""
    torch.manual_seed(seed)
    model = Classifier(layer, hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    batches = torch.Generator().manual_seed(1000 + seed)                 # the data stream of this seed
    x_val, y_val, where_val = make_batch(N_VAL, T, torch.Generator().manual_seed(2), clue_span)
    history = {"step": [], "accuracy": [], "gradient_kept": [], "z_noise": [], "z_clue": []}
    for step in range(steps + 1):
        if step % EVAL_EVERY == 0:
            with torch.no_grad():
                accuracy = (model(x_val).argmax(dim=1) == y_val).float().mean().item()
            history["step"].append(step)
            history["accuracy"].append(accuracy)
            for key, value in probe(model, x_val[:N_PROBE], y_val[:N_PROBE], where_val[:N_PROBE]).items():
                history[key].append(value)
        if step == steps:
            break
        x, y, _ = make_batch(BATCH, T, batches, clue_span)               # (BATCH, T, F), (BATCH,)
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return history


# --------------------------------------------------------------------------------------------------
# The chapter's settings, chosen by tools/long_memory_search.py, and the runs it wrote for them.

EXPERIMENT = dict(T=30, clue_span=15, steps=1200, seeds=list(range(5)))
FAILED = 0.6           # a run whose best held-out accuracy stays under this failed, well below SOLVED
TOLERANCE = 0.1        # the build's re-run may differ from the committed run by this much accuracy


def _train_model(name, seed):
    torch.set_num_threads(1)        # one thread is faster for these small models on a shared CPU
    torch.set_flush_denormal(True)  # tiny gradients late in training would otherwise slow the CPU down
    exp = EXPERIMENT
    return train(*MODELS[name], exp["T"], seed, exp["steps"], exp["clue_span"])


def train_seed(seed):
    """{model: history} of one seed of EXPERIMENT, on two forked processes on Linux (one elsewhere)."""
    jobs = [(name, seed) for name in MODELS]  # the GRU, the slowest, first: it gets a worker to itself
    if (os.cpu_count() or 1) >= 2 and sys.platform == "linux":
        with multiprocessing.get_context("fork").Pool(2) as pool:
            return dict(zip(MODELS, pool.starmap(_train_model, jobs, chunksize=1)))
    return {name: _train_model(*job) for name, job in zip(MODELS, jobs)}


def steps_to(history, level=SOLVED):
    """The first evaluation step whose held-out accuracy reached `level`, or None."""
    return next((s for s, a in zip(history["step"], history["accuracy"]) if a >= level), None)


def fingerprint():
    """A hash of the training code (bytecode, names, constants; not docstrings) and of EXPERIMENT."""
    def code_of(code, doc):
        consts = [code_of(c, None) if inspect.iscode(c) else repr(c)
                  for c in code.co_consts if doc is None or c is not doc]
        return repr((code.co_code, code.co_names, code.co_varnames, consts))

    functions = [make_batch, update_gate, gradient_kept, probe, train, Classifier.__init__, Classifier.forward]
    blob = "".join(code_of(f.__code__, f.__doc__) for f in functions)
    settings = dict(EXPERIMENT, K=K, F=F, H=H, BATCH=BATCH, LR=LR, EVAL_EVERY=EVAL_EVERY, N_VAL=N_VAL,
                    N_PROBE=N_PROBE, models={k: (v[0].__name__, v[1]) for k, v in MODELS.items()})
    return hashlib.sha256((blob + json.dumps(settings, sort_keys=True)).encode()).hexdigest()[:16]


def rounded(value, digits=4):
    """value with every float rounded to `digits` significant digits (the data stays small)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def write_runs(runs):
    """Save runs[model][seed] = history with what made them (tools/long_memory_search.py --write)."""
    runs = rounded(runs)
    data = {"fingerprint": fingerprint(), "torch": torch.__version__, "experiment": EXPERIMENT, "runs": runs}
    DATA.write_text(json.dumps(data, separators=(",", ":")) + "\n")


class StaleRuns(RuntimeError):
    """The committed runs were not made by this code, or this build does not reproduce them."""


def load_runs():
    """runs[model][seed] = history, from the committed data; StaleRuns if another code made them."""
    if not DATA.is_file():
        raise StaleRuns(f"{DATA} is missing: run `OMP_NUM_THREADS=1 .venv/bin/python "
                        "tools/long_memory_search.py --write` and commit it")
    data = json.loads(DATA.read_text())
    if data["fingerprint"] != fingerprint():
        raise StaleRuns(f"{DATA.name} was made by other training code or settings: run "
                        "`OMP_NUM_THREADS=1 .venv/bin/python tools/long_memory_search.py --write` and commit it")
    return data["runs"]


def outcome(history):
    """'solved' (reached SOLVED), 'failed' (never reached FAILED) or 'between'."""
    return "solved" if steps_to(history) is not None else "failed" if max(history["accuracy"]) < FAILED else "between"


def check_against(runs, rerun, seed):
    """Raise StaleRuns unless a fresh run of `seed` agrees with the committed one, model by model: the
    same outcome() and a final accuracy within TOLERANCE (another CPU may round differently, and a
    run at the guessing level wanders by a few points)."""
    problems = []
    for name, fresh in rerun.items():
        saved = runs[name][seed]
        gap = abs(saved["accuracy"][-1] - fresh["accuracy"][-1])
        if outcome(saved) != outcome(fresh) or gap > TOLERANCE:
            problems.append(f"{name}, seed {seed}: committed {outcome(saved)}, final accuracy "
                            f"{saved['accuracy'][-1]:.3f}; this build's {outcome(fresh)}, {fresh['accuracy'][-1]:.3f}")
    if problems:
        raise StaleRuns("this build does not reproduce the committed runs (" + "; ".join(problems) + "): "
                        "run `OMP_NUM_THREADS=1 .venv/bin/python tools/long_memory_search.py --write`, "
                        "look at what changed, and commit it")


# --------------------------------------------------------------------------------------------------
# What the runs conclude, chosen by code from the numbers.

def percents(values):
    return ", ".join(f"{100 * v:.0f}" for v in values) + " %"


def verdict(runs):
    """(separated, sentence): whether every plain RNN run failed while the GRU solved the task on every
    seed or all but one, and the chapter's conclusion in words chosen by those numbers, seed by seed."""
    n = len(runs["GRU"])
    gru_solved = sum(steps_to(h) is not None for h in runs["GRU"])
    rnns = [name for name in runs if name != "GRU"]
    rnns_failed = all(max(h["accuracy"]) < FAILED for name in rnns for h in runs[name])
    rnns_solved = sum(steps_to(h) is not None for name in rnns for h in runs[name])
    gru_part = (f"the GRU reached {100 * SOLVED:.0f} % on "
                + (f"all {n} seeds" if gru_solved == n else f"{gru_solved} of the {n} seeds")
                + f" (final accuracy per seed: {percents(h['accuracy'][-1] for h in runs['GRU'])})")
    rnn_part = "; ".join(f"{name.removeprefix('RNN, ')}: {percents(max(h['accuracy']) for h in runs[name])}"
                         for name in rnns)
    if gru_solved >= n - 1 and rnns_failed:
        return True, (f"The plain RNNs fail where the GRU succeeds: {gru_part}, while no run of either "
                      f"vanilla RNN ever got above {100 * FAILED:.0f} % held-out accuracy (best per seed, "
                      f"{rnn_part}).")
    return False, (f"These runs do not separate the models: {gru_part}, and {rnns_solved} of the "
                   f"{n * len(rnns)} vanilla RNN runs reached it too (best per seed, {rnn_part}). Read the "
                   "per-seed results above before drawing a conclusion.")
