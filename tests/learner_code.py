"""Learner answers, as source code, the way they arrive in notebooks: right ones, wrong ones,
cheating, crashing and hanging ones. Each entry is the source of one answer cell."""

GRU_CELL = '''
def gru_cell(x_t, h_prev, w_ih, w_hh, b_ih, b_hh):
    gi = x_t @ w_ih.T + b_ih
    gh = h_prev @ w_hh.T + b_hh
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h_prev
'''

# Part 3, the stretch: the gradient of one step, by hand.
GRU_CELL_GRAD = '''
def gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t):
    H = h_prev.shape[1]
    gi = x_t @ w_ih.T + b_ih
    gh = h_prev @ w_hh.T + b_hh
    r = torch.sigmoid(gi[:, :H] + gh[:, :H])
    z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    dn_pre = grad_h_t * (1 - z) * (1 - n ** 2)
    dz_pre = grad_h_t * (h_prev - n) * z * (1 - z)
    dr_pre = dn_pre * gh[:, 2 * H:] * r * (1 - r)
    return grad_h_t * z + dr_pre @ w_hh[:H] + dz_pre @ w_hh[H:2 * H] + (dn_pre * r) @ w_hh[2 * H:]
'''

# --- correct my_gru, written in different ways ---------------------------------------------------
MY_GRU_WITH_CELL = '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    h = initial_states
    states = []
    for t in range(input.shape[1]):
        h = gru_cell(input[:, t], h, w_ih, w_hh, b_ih, b_hh)
        states.append(h)
    return torch.stack(states, dim=1), h
'''

MY_GRU_BATCHED = '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    H = initial_states.shape[1]
    gi = input @ w_ih.T + b_ih                      # all time steps at once: (B, T, 3H)
    h = initial_states
    output = input.new_empty(input.shape[0], input.shape[1], H)
    out = []
    for t in range(input.shape[1]):
        gh = torch.addmm(b_hh, h, w_hh.t())
        r = torch.sigmoid(gi[:, t, :H] + gh[:, :H])
        z = torch.sigmoid(gi[:, t, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(gi[:, t, 2 * H:] + r * gh[:, 2 * H:])
        h = n + z * (h - n)
        out.append(h)
    return torch.stack(out, 1), h
'''

MY_GRU_FLOAT64_INSIDE = '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    x, h = input.double(), initial_states.double()
    w_ih, w_hh, b_ih, b_hh = w_ih.double(), w_hh.double(), b_ih.double(), b_hh.double()
    states = []
    for t in range(x.shape[1]):
        gi = torch.matmul(x[:, t], w_ih.transpose(0, 1)) + b_ih
        gh = torch.matmul(h, w_hh.transpose(0, 1)) + b_hh
        r, z, n_i = gi.split(h.shape[1], dim=1)
        hr, hz, n_h = gh.split(h.shape[1], dim=1)
        r = 1 / (1 + torch.exp(-(r + hr)))
        z = 1 / (1 + torch.exp(-(z + hz)))
        n = torch.tanh(n_i + r * n_h)
        h = (1 - z) * n + z * h
        states.append(h)
    return torch.stack(states, 1).to(input.dtype), h.to(input.dtype)
'''

MY_GRU_SLOW = '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    # Deliberately slow: one scalar multiply-add at a time.
    B, T, F = input.shape
    H = initial_states.shape[1]
    def affine(w, b, v, row):
        total = b[row]
        for k in range(v.shape[0]):
            total = total + w[row, k] * v[k]
        return total
    rows, last = [], []
    for b in range(B):
        h = [initial_states[b, j] for j in range(H)]
        seq = []
        for t in range(T):
            hv = torch.stack(h)
            new = []
            for j in range(H):
                r = torch.sigmoid(affine(w_ih, b_ih, input[b, t], j) + affine(w_hh, b_hh, hv, j))
                z = torch.sigmoid(affine(w_ih, b_ih, input[b, t], H + j) + affine(w_hh, b_hh, hv, H + j))
                n = torch.tanh(affine(w_ih, b_ih, input[b, t], 2 * H + j) + r * affine(w_hh, b_hh, hv, 2 * H + j))
                new.append((1 - z) * n + z * h[j])
            h = new
            seq.append(torch.stack(h))
        rows.append(torch.stack(seq))
        last.append(torch.stack(h))
    return torch.stack(rows), torch.stack(last)
'''

MY_GRU_NOISY = MY_GRU_WITH_CELL.replace(
    "    h = initial_states\n",
    "    import sys, warnings\n    print('debug: my_gru called')\n    print('to stderr', file=sys.stderr)\n"
    "    warnings.warn('a warning from the learner')\n    h = initial_states\n")

# --- wrong my_gru: the common mistakes ------------------------------------------------------------
def _cell_with(body):
    return '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    h = initial_states
    states = []
    for t in range(input.shape[1]):
        x = input[:, t]
        gi = x @ w_ih.T + b_ih
        gh = h @ w_hh.T + b_hh
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
''' + body + '''
        states.append(h)
    return torch.stack(states, dim=1), h
'''


WRONG = {
    "reset_gate_missing": _cell_with('''
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + h_n)
        h = (1 - z) * n + z * h'''),
    "reset_before_matmul": _cell_with('''
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        W_hn = w_hh[2 * h.shape[1]:]
        n = torch.tanh(i_n + (r * h) @ W_hn.T + b_hh[2 * h.shape[1]:])
        h = (1 - z) * n + z * h'''),
    "z_swapped": _cell_with('''
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = z * n + (1 - z) * h'''),
    "r_z_order_swapped": _cell_with('''
        z = torch.sigmoid(i_r + h_r)
        r = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h'''),
    "hidden_bias_missing": _cell_with('''
        gh = h @ w_hh.T
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h'''),
    "activations_swapped": _cell_with('''
        r = torch.tanh(i_r + h_r)
        z = torch.tanh(i_z + h_z)
        n = torch.sigmoid(i_n + r * h_n)
        h = (1 - z) * n + z * h'''),
    "state_not_carried": MY_GRU_WITH_CELL.replace(
        "h = gru_cell(input[:, t], h,", "h = gru_cell(input[:, t], initial_states,"),
    "initial_state_ignored": MY_GRU_WITH_CELL.replace(
        "    h = initial_states\n", "    h = torch.zeros_like(initial_states)\n"),
    "h_final_first_step": MY_GRU_WITH_CELL.replace(
        "return torch.stack(states, dim=1), h", "return torch.stack(states, dim=1), states[0]"),
}

# A list where a tuple is asked: it unpacks the same, and is accepted (the notebook says so).
MY_GRU_LIST = MY_GRU_WITH_CELL.replace("return torch.stack(states, dim=1), h", "return [torch.stack(states, dim=1), h]")

# --- wrong return contracts, devices and gradients --------------------------------------------------
CONTRACT = {
    "time-major": MY_GRU_WITH_CELL.replace("torch.stack(states, dim=1), h", "torch.stack(states, dim=0), h"),
    "extra num_layers dimension": MY_GRU_WITH_CELL.replace("dim=1), h", "dim=1), h.unsqueeze(0)"),
    "dtype float32": MY_GRU_WITH_CELL.replace("    h = initial_states\n",
                                              "    h = initial_states.float()\n    input = input.float()\n"
                                              "    w_ih, w_hh, b_ih, b_hh = w_ih.float(), w_hh.float(), "
                                              "b_ih.float(), b_hh.float()\n"),
    "device hard-coded": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    B, T, _ = input.shape
    output = torch.zeros(B, T, initial_states.shape[1], dtype=input.dtype)
    h = initial_states
    for t in range(T):
        h = gru_cell(input[:, t], h, w_ih, w_hh, b_ih, b_hh)
        output = output.clone()
        output[:, t] = h
    return output, h
''',
    "detached": MY_GRU_WITH_CELL.replace("return torch.stack(states, dim=1), h",
                                         "return torch.stack(states, dim=1).detach(), h.detach()"),
}

# --- cheating: any route to a built-in GRU -------------------------------------------------------
CHEATS = {
    "nn.GRU": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    gru = torch.nn.GRU(input.shape[2], initial_states.shape[1], batch_first=True,
                       dtype=input.dtype, device=input.device)
    with torch.no_grad():
        for p, w in zip(gru.parameters(), (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(w)
    output, h_n = gru(input, initial_states.unsqueeze(0))
    return output, h_n[0]
''',
    "nn.GRUCell in a loop": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    h, states = initial_states, []
    for t in range(input.shape[1]):
        h = torch.nn.functional.__dict__.get("gru_cell", torch.gru_cell)(input[:, t], h, w_ih, w_hh, b_ih, b_hh)
        states.append(h)
    return torch.stack(states, 1), h
''',
    "torch._VF.gru": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    output, h_n = torch._VF.gru(input, initial_states.unsqueeze(0), [w_ih, w_hh, b_ih, b_hh],
                                True, 1, 0.0, False, False, True)
    return output, h_n[0]
''',
    "torch.ops.aten.gru": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    name = "g" + "ru"
    output, h_n = getattr(torch.ops.aten, name).input(input, initial_states.unsqueeze(0),
                                                      [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, True)
    return output, h_n[0]
''',
    "torch.ops.aten.gru.decompose": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    output, h_n = torch.ops.aten.gru.input.decompose(input, initial_states.unsqueeze(0),
                                                     [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, True)
    return output, h_n[0]
''',
    "torch._decomp's Python GRU, captured early": '''
from torch._decomp.decompositions import gru_impl as _captured

def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    output, h_n = _captured(input, initial_states.unsqueeze(0), [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, True)
    return output, h_n[0]
''',
    "nn.GRU in a thread": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    import threading
    box = {}

    def work():
        output, h_n = torch._VF.gru(input, initial_states.unsqueeze(0), [w_ih, w_hh, b_ih, b_hh],
                                    True, 1, 0.0, False, False, True)
        box["result"] = output, h_n[0]

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return box["result"]
''',
}

# --- misbehaving ------------------------------------------------------------------------------------
MISBEHAVING = {
    "hangs": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    while True:
        pass
''',
    "sleeps": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    import time
    time.sleep(3600)
''',
    "exits the process": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    import os
    os._exit(3)
''',
    "segfaults": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    import ctypes
    ctypes.string_at(0)
''',
    "calls sys.exit": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    import sys
    sys.exit("done")
''',
    "mutates its input": MY_GRU_WITH_CELL.replace("    h = initial_states\n",
                                                  "    initial_states.mul_(0.5)\n    h = initial_states * 2\n"),
    "raises": MY_GRU_WITH_CELL.replace("h = gru_cell(input[:, t], h,", "h = gru_cell(input[:, t], h.T,"),
    "patches the checker while it runs": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    import torch.testing, gru_ref.judge
    torch.allclose = lambda *a, **k: True
    gru_ref.judge.Judge.rule = lambda self, *a: gru_ref.judge.Verdict(True, "all good")
    return input[..., :1].expand(-1, -1, initial_states.shape[1]) * 0, initial_states * 0
''',
}

# Module-level tampering in the answer cell: it runs in the learner's kernel, before the test cells.
TAMPERING = '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    return input, initial_states

import gru_ref, gru_ref.learner.check
gru_ref.learner.check._check = lambda *args: print("Passed: trust me")
gru_ref.learner.check.check_my_gru = lambda *args: None
check_my_gru = lambda *args: None
torch.allclose = lambda *args, **kwargs: True
'''

# Module-level tampering that does fool the check in the learner's own kernel: it turns off the
# built-in-GRU detection there, then calls nn.GRU. Only the re-check outside the kernel catches it.
TAMPERING_CHEAT = CHEATS["nn.GRU"] + '''
import re
import gru_ref.learner.sandbox
gru_ref.learner.sandbox.disable_builtin_grus = lambda: None
gru_ref.learner.sandbox.BUILTIN_RNN_OP = re.compile("^$")
'''

MISBEHAVING["allocates without end"] = '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    hoard = []
    for _ in range(64):  # 64 GB of address space in all (left untouched, so fast), unless stopped
        hoard.append(torch.empty(1 << 28))
'''
MISBEHAVING["prints without end"] = '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    import sys
    line = "x" * 1_000_000
    while True:
        print(line, file=sys.stderr)
'''

# --- a check's function that ends its process: it fails alone, the notebook goes on (issue 16, item 1) ---
ENDS_ITS_CHECK = {
    # The issue's `while t < T` without `t += 1`, its list growing fast enough to hit the memory limit.
    "grows memory without end": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    states, h, t = [], initial_states, 0
    while t < input.shape[1]:
        h = gru_cell(input[:, t], h, w_ih, w_hh, b_ih, b_hh)
        states.append(h.repeat(1 << 22, 1))
    return torch.stack(states, dim=1), h
''',
    "calls os._exit": MISBEHAVING["exits the process"],
    "segfaults": '''
def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    import faulthandler
    faulthandler._sigsegv()
''',
}
