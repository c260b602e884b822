"""Wrong steps: the GRU step, its one-step gradient by hand and the tanh RNN step, each with one knob
per common mistake. Each refuses the right knobs, though that is no protection (a learner would delete
the line): this module is why gru_ref.reference stays out of the box and the wheel."""
import torch

RIGHT_GRU_KNOBS = {"reset": "after_matmul", "swap_z": False, "gate_order": "rzn", "input_bias": True,
                   "hidden_bias": True, "swap_activations": False}
RIGHT_GRAD_KNOBS = {"direct": True, "through_r": True, "through_z": True, "tanh_slope": True,
                    "sigmoid_slope": True, "z_sign": 1}
RIGHT_RNN_KNOBS = {"input_bias": True, "hidden_bias": True, "squash": "tanh", "transpose_w_hh": True}
SQUASHES = {"tanh": torch.tanh, "relu": torch.relu, "none": lambda v: v}


def _turned(knobs, right, what):
    knobs = {**right, **knobs}
    if knobs == right or knobs.keys() != right.keys():
        raise ValueError(f"a mistake needs at least one knob turned away from {what}")
    return knobs


def gru_step(x, h, w_ih, w_hh, b_ih, b_hh, **knobs):
    """A GRU step with one knob per common mistake: at least one must be turned (see RIGHT_GRU_KNOBS)."""
    knobs = _turned(knobs, RIGHT_GRU_KNOBS, "PyTorch's GRU")
    reset, swap_z, gate_order = knobs["reset"], knobs["swap_z"], knobs["gate_order"]
    input_bias, hidden_bias, swap_activations = knobs["input_bias"], knobs["hidden_bias"], knobs["swap_activations"]
    gi = x @ w_ih.T + (b_ih if input_bias else 0)  # (B, 3H)
    b_hh = b_hh if hidden_bias else torch.zeros_like(b_hh)
    # Read the stacked blocks in `gate_order`: "rzn" is right, anything else is the mistake.
    i = dict(zip(gate_order, gi.chunk(3, dim=-1)))  # each (B, H)
    w = dict(zip(gate_order, w_hh.chunk(3, dim=0)))  # each (H, H)
    b = dict(zip(gate_order, b_hh.chunk(3)))  # each (H,)
    gate, squash = (torch.tanh, torch.sigmoid) if swap_activations else (torch.sigmoid, torch.tanh)
    r = gate(i["r"] + h @ w["r"].T + b["r"])
    z = gate(i["z"] + h @ w["z"].T + b["z"])
    if reset == "after_matmul":
        n = squash(i["n"] + r * (h @ w["n"].T + b["n"]))
    elif reset == "before_matmul":
        n = squash(i["n"] + (r * h) @ w["n"].T + b["n"])
    elif reset == "without_bias":
        n = squash(i["n"] + r * (h @ w["n"].T) + b["n"])
    else:  # "missing"
        n = squash(i["n"] + h @ w["n"].T + b["n"])
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h


def gru_step_grad(x, h, w_ih, w_hh, b_ih, b_hh, grad_h_t, **knobs):
    """dL/dh_prev of one step, given dL/dh_t, by the chain rule with at least one slip (knob) in it."""
    knobs = _turned(knobs, RIGHT_GRAD_KNOBS, "the right gradient")
    direct, through_r, through_z, tanh_slope, sigmoid_slope, z_sign = (knobs[k] for k in RIGHT_GRAD_KNOBS)
    gi = x @ w_ih.T + b_ih  # (B, 3H)
    gh = h @ w_hh.T + b_hh  # (B, 3H)
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    d_n = grad_h_t * (1 - z)
    d_z = z_sign * grad_h_t * (h - n) if through_z else torch.zeros_like(z)
    d_n_pre = d_n * (1 - n * n) if tanh_slope else d_n
    d_r = d_n_pre * h_n if through_r else torch.zeros_like(r)
    d_r_pre = d_r * r * (1 - r) if sigmoid_slope else d_r
    d_z_pre = d_z * z * (1 - z) if sigmoid_slope else d_z
    d_gh = torch.cat([d_r_pre, d_z_pre, d_n_pre * r], dim=-1)  # (B, 3H): back through the hidden projections
    return (grad_h_t * z if direct else 0) + d_gh @ w_hh  # (B, H)


def rnn_step(x, h, w_ih, w_hh, b_ih, b_hh, **knobs):
    """A tanh RNN step with one knob per common mistake: at least one must be turned."""
    knobs = _turned(knobs, RIGHT_RNN_KNOBS, "nn.RNN")
    input_bias, hidden_bias, squash, transpose_w_hh = (knobs[k] for k in RIGHT_RNN_KNOBS)
    hidden = h @ (w_hh.T if transpose_w_hh else w_hh)
    return SQUASHES[squash](x @ w_ih.T + (b_ih if input_bias else 0) + hidden + (b_hh if hidden_bias else 0))
