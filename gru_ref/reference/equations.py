"""The GRU forward pass in PyTorch's convention (the one `torch.nn.GRU` computes), and the tanh RNN's.

Names: B batch, T time steps, F input features, H hidden size.
Weights are stacked by gate in r, z, n order, as in `nn.GRU`:
    w_ih (3H, F) = [W_ir; W_iz; W_in]      b_ih (3H,) = [b_ir; b_iz; b_in]
    w_hh (3H, H) = [W_hr; W_hz; W_hn]      b_hh (3H,) = [b_hr; b_hz; b_hn]

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)          reset gate
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)          update gate
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))       candidate: r scales the *projected* h
    h' = (1 - z) * n + z * h                            z near 1 keeps the old state

Cho et al. (2014) and d2l apply r to h *before* the matmul, W_hn (r * h), and d2l has one bias per
gate: those are different functions, and they do not match `nn.GRU`.
"""
import torch


def gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    """One time step: x (B, F), h (B, H) -> h' (B, H)."""
    gi = x @ w_ih.T + b_ih  # (B, 3H): input projections of the r, z, n gates
    gh = h @ w_hh.T + b_hh  # (B, 3H): hidden projections of the r, z, n gates
    i_r, i_z, i_n = gi.chunk(3, dim=-1)  # each (B, H)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)  # each (B, H)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def gru_sequence(input, initial_states, w_ih, w_hh, b_ih, b_hh, cell=gru_cell):
    """A batch-first sequence: input (B, T, F), initial_states (B, H) -> (output (B, T, H), h_final (B, H))."""
    h = initial_states
    outputs = []
    for t in range(input.shape[1]):
        h = cell(input[:, t], h, w_ih, w_hh, b_ih, b_hh)  # (B, H)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h
