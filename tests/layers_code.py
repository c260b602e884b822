"""Learner answers for the `gru_layers` assignment (my_gru_layers), as the source of one answer cell
each: right ones, the common mistakes, and nn.GRU itself."""

MY_GRU_LAYERS = '''
def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):
    i_r, i_z, i_n = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def run_direction(x, h, weights, reverse):
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    states = [None] * x.shape[1]
    for t in steps:
        h = gru_step(x[:, t], h, *weights)
        states[t] = h
    return torch.stack(states, dim=1), h


def my_gru_layers(input, h0, weights, num_layers, bidirectional, batch_first):
    D = 2 if bidirectional else 1
    x = input if batch_first else input.transpose(0, 1)
    h_n = []
    for layer in range(num_layers):
        outputs = []
        for direction in range(D):
            k = layer * D + direction
            output, h = run_direction(x, h0[k], weights[4 * k:4 * k + 4], reverse=direction == 1)
            outputs.append(output)
            h_n.append(h)
        x = torch.cat(outputs, dim=-1)
    return (x if batch_first else x.transpose(0, 1)), torch.stack(h_n)
'''


def _replace(old, new):
    assert old in MY_GRU_LAYERS, old
    return MY_GRU_LAYERS.replace(old, new)


# mistake name in gru_ref.assignments.gru_layers.LAYERS_MISTAKES -> an answer that makes it
WRONG = {
    "reverse_not_rereversed": _replace("        states[t] = h\n    return torch.stack(states, dim=1), h",
                                       "        states.append(h)\n    return torch.stack(states[x.shape[1]:], dim=1), h"),
    "reverse_reads_forward": _replace("range(x.shape[1] - 1, -1, -1) if reverse else ", ""),
    "directions_concatenated_reverse_first": _replace("torch.cat(outputs, dim=-1)", "torch.cat(outputs[::-1], dim=-1)"),
    "h_n_direction_major": _replace("h0[k]", "h0[direction * num_layers + layer]").replace(
        "torch.stack(h_n)", "torch.stack(h_n[0::D] + h_n[1::D])"),
    "reverse_h_n_at_last_step": _replace("            h_n.append(h)", "            h_n.append(output[:, -1])"),
    # Runs only where F == num_directions * H (the first quick case); elsewhere it fails on shapes.
    "layers_fed_the_input": _replace("        x = torch.cat(outputs, dim=-1)\n",
                                     "        x = torch.cat(outputs, dim=-1) if layer == num_layers - 1 else x\n"),
}

CHEATS = {
    "nn.GRU": '''
def my_gru_layers(input, h0, weights, num_layers, bidirectional, batch_first):
    gru = torch.nn.GRU(input.shape[-1], h0.shape[-1], num_layers=num_layers, bidirectional=bidirectional,
                       batch_first=batch_first, dtype=input.dtype, device=input.device)
    with torch.no_grad():
        for p, w in zip(gru.parameters(), weights):
            p.copy_(w)
    return gru(input, h0)
''',
    "torch._VF.gru": '''
def my_gru_layers(input, h0, weights, num_layers, bidirectional, batch_first):
    return tuple(torch._VF.gru(input, h0, weights, True, num_layers, 0.0, False, bidirectional, batch_first))
''',
}

# A mistake of the GRU step inside the layers (the gru assignment's name) -> an answer that makes it:
# the blog's missing reset gate in every step, z and 1 - z swapped in the reverse direction only.
STEP_WRONG = {
    "reset_gate_missing": _replace("n = torch.tanh(i_n + r * h_n)", "n = torch.tanh(i_n + h_n)"),
    "z_swapped_reverse_only": _replace("def gru_step(x, h, w_ih, w_hh, b_ih, b_hh):",
                                       "def gru_step(x, h, w_ih, w_hh, b_ih, b_hh, swap=False):").replace(
        "    return (1 - z) * n + z * h", "    return z * n + (1 - z) * h if swap else (1 - z) * n + z * h").replace(
        "h = gru_step(x[:, t], h, *weights)", "h = gru_step(x[:, t], h, *weights, swap=reverse)"),
}
