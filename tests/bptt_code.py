"""Learner answers to gru_bptt (backpropagation through time by hand), as source code the way they
arrive in notebooks: a right one, each common slip written as a learner writes it, and autodiff by
the doors gru_cell_grad's check closes."""

GRU_BPTT = '''
def gru_bptt(input, initial_states, w_ih, w_hh, b_ih, b_hh, grad_output, grad_h_final):
    T, H = input.shape[1], initial_states.shape[1]
    gi_all = input @ w_ih.T + b_ih                     # (B, T, 3H): every step's input projection
    h, saved = initial_states, []
    for t in range(T):
        gh = h @ w_hh.T + b_hh
        gi = gi_all[:, t]
        r = torch.sigmoid(gi[:, :H] + gh[:, :H])
        z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
        n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
        saved.append((h, r, z, n, gh[:, 2 * H:]))
        h = (1 - z) * n + z * h
    d_gi_all, d_gh_all, h_prevs = [], [], []
    dh = grad_h_final
    for t in reversed(range(T)):
        h_prev, r, z, n, hn = saved[t]
        dh = dh + grad_output[:, t]
        d_n = dh * (1 - z) * (1 - n * n)
        d_z = dh * (h_prev - n) * z * (1 - z)
        d_r = d_n * hn * r * (1 - r)
        d_gi = torch.cat([d_r, d_z, d_n], dim=1)
        d_gh = torch.cat([d_r, d_z, d_n * r], dim=1)
        dh = dh * z + d_gh @ w_hh
        d_gi_all.insert(0, d_gi)
        d_gh_all.insert(0, d_gh)
        h_prevs.insert(0, h_prev)
    d_gi_all, d_gh_all, h_prevs = (torch.stack(v, dim=1) for v in (d_gi_all, d_gh_all, h_prevs))
    grad_w_ih = torch.einsum("btg,btf->gf", d_gi_all, input)
    grad_w_hh = torch.einsum("btg,bth->gh", d_gh_all, h_prevs)
    return d_gi_all @ w_ih, dh, grad_w_ih, grad_w_hh, d_gi_all.sum((0, 1)), d_gh_all.sum((0, 1))
'''

# A reverse loop written step by step, accumulating the weights' gradients as it goes: the shape of the
# slips below (each a change of one or two lines of it).
GRU_BPTT_LOOP = '''
def gru_bptt(input, initial_states, w_ih, w_hh, b_ih, b_hh, grad_output, grad_h_final):
    T, H = input.shape[1], initial_states.shape[1]
    h, saved = initial_states, []
    for t in range(T):
        x = input[:, t]
        i_r, i_z, i_n = (x @ w_ih.T + b_ih).chunk(3, dim=-1)
        h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        saved.append((x, h, r, z, n, h_n))
        h = (1 - z) * n + z * h
    g_w_ih, g_w_hh = torch.zeros_like(w_ih), torch.zeros_like(w_hh)
    g_b_ih, g_b_hh = torch.zeros_like(b_ih), torch.zeros_like(b_hh)
    g_x = []
    dh_next = grad_h_final
    for t in reversed(range(T)):
        x, h_prev, r, z, n, h_n = saved[t]
        dh = grad_output[:, t] + dh_next
        d_n = dh * (1 - z) * (1 - n * n)
        d_z = dh * (h_prev - n) * z * (1 - z)
        d_hn = d_n * r
        d_r = d_n * h_n * r * (1 - r)
        d_gi = torch.cat([d_r, d_z, d_n], dim=-1)
        d_gh = torch.cat([d_r, d_z, d_hn], dim=-1)
        dh_prev = dh * z + d_gh @ w_hh
        g_w_ih = g_w_ih + d_gi.T @ x
        g_w_hh = g_w_hh + d_gh.T @ h_prev
        g_b_ih = g_b_ih + d_gi.sum(0)
        g_b_hh = g_b_hh + d_gh.sum(0)
        g_x.append(d_gi @ w_ih)
        dh_next = dh_prev
    return torch.stack(g_x[::-1], dim=1), dh_next, g_w_ih, g_w_hh, g_b_ih, g_b_hh
'''


def _slip(*edits):
    source = GRU_BPTT_LOOP
    for old, new in edits:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    return source


# mistake name (gru_ref.assignments.gru_bptt) -> the slip, as a learner makes it
SLIPS = {
    "bptt_direct_path_missing": _slip(("dh_prev = dh * z + d_gh @ w_hh", "dh_prev = d_gh @ w_hh")),
    "bptt_state_grad_not_carried": _slip(("dh = grad_output[:, t] + dh_next",
                                          "dh = grad_output[:, t] + (grad_h_final if t == T - 1 else 0)")),
    "bptt_weights_overwritten": _slip(("g_w_ih = g_w_ih + d_gi.T @ x", "g_w_ih = d_gi.T @ x"),
                                      ("g_w_hh = g_w_hh + d_gh.T @ h_prev", "g_w_hh = d_gh.T @ h_prev"),
                                      ("g_b_ih = g_b_ih + d_gi.sum(0)", "g_b_ih = d_gi.sum(0)"),
                                      ("g_b_hh = g_b_hh + d_gh.sum(0)", "g_b_hh = d_gh.sum(0)")),
    "bptt_reset_before_matmul": _slip(("d_hn = d_n * r", "d_hn = d_n"),
                                      ("d_r = d_n * h_n * r * (1 - r)",
                                       "d_r = (d_n @ w_hh[2 * H:]) * h_prev * r * (1 - r)"),
                                      ("dh_prev = dh * z + d_gh @ w_hh",
                                       "dh_prev = dh * z + d_gh[:, :2 * H] @ w_hh[:2 * H] + (d_n @ w_hh[2 * H:]) * r"),
                                      ("g_w_hh = g_w_hh + d_gh.T @ h_prev",
                                       "g_w_hh = g_w_hh + torch.cat([d_gh[:, :2 * H].T @ h_prev,"
                                       " d_n.T @ (r * h_prev)])")),
    "bptt_reset_factor_missing": _slip(("d_hn = d_n * r", "d_hn = d_n")),
    "bptt_reset_skips_b_hn": _slip(("d_r = d_n * h_n * r * (1 - r)",
                                    "d_r = d_n * (h_prev @ w_hh[2 * H:].T) * r * (1 - r)")),
    "bptt_output_grads_ignored": _slip(("dh = grad_output[:, t] + dh_next", "dh = dh_next")),
    "bptt_final_grad_ignored": _slip(("dh_next = grad_h_final", "dh_next = torch.zeros_like(grad_h_final)")),
    "bptt_grad_input_reversed": _slip(("torch.stack(g_x[::-1], dim=1)", "torch.stack(g_x, dim=1)")),
}

# The weights' gradients of the last step only: the slip a forward-order loop makes, or a `break`.
SLIPS["bptt_weights_last_step_only"] = _slip(
    ("        g_w_ih = g_w_ih + d_gi.T @ x\n        g_w_hh = g_w_hh + d_gh.T @ h_prev\n"
     "        g_b_ih = g_b_ih + d_gi.sum(0)\n        g_b_hh = g_b_hh + d_gh.sum(0)\n",
     "        if t == T - 1:\n            g_w_ih, g_w_hh = d_gi.T @ x, d_gh.T @ h_prev\n"
     "            g_b_ih, g_b_hh = d_gi.sum(0), d_gh.sum(0)\n"))

# Autodiff inside, which a by-hand part refuses: autograd through the learner's own forward, and
# forward mode's dual numbers.
WITH_AUTOGRAD = '''
def gru_bptt(input, initial_states, w_ih, w_hh, b_ih, b_hh, grad_output, grad_h_final):
    leaves = [t.detach().requires_grad_() for t in (input, initial_states, w_ih, w_hh, b_ih, b_hh)]
    x, h, w_ih, w_hh, b_ih, b_hh = leaves
    H = h.shape[1]
    with torch.enable_grad():
        states = []
        for t in range(x.shape[1]):
            i_r, i_z, i_n = (x[:, t] @ w_ih.T + b_ih).chunk(3, dim=-1)
            h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            h = (1 - z) * torch.tanh(i_n + r * h_n) + z * h
            states.append(h)
        return torch.autograd.grad((torch.stack(states, 1), h), leaves, (grad_output, grad_h_final))
'''

WITH_FUNC_VJP = '''
def gru_bptt(input, initial_states, w_ih, w_hh, b_ih, b_hh, grad_output, grad_h_final):
    def forward(x, h, w_ih, w_hh, b_ih, b_hh):
        states = []
        for t in range(x.shape[1]):
            i_r, i_z, i_n = (x[:, t] @ w_ih.T + b_ih).chunk(3, dim=-1)
            h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=-1)
            r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
            h = (1 - z) * torch.tanh(i_n + r * h_n) + z * h
            states.append(h)
        return torch.stack(states, 1), h
    _, pull_back = torch.func.vjp(forward, input, initial_states, w_ih, w_hh, b_ih, b_hh)
    return pull_back((grad_output, grad_h_final))
'''
