"""Learner answers for the `rnn` assignment (my_rnn), as the source of one answer cell each: right
ones, the common mistakes, and every route to a built-in RNN."""

MY_RNN = '''
def my_rnn(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    h = initial_states
    states = []
    for t in range(input.shape[1]):
        h = torch.tanh(input[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
        states.append(h)
    return torch.stack(states, dim=1), h
'''

MY_RNN_BATCHED = '''
def my_rnn(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    projected = torch.einsum("btf,hf->bth", input, w_ih) + b_ih + b_hh   # every step's input at once
    output = input.new_zeros(input.shape[0], input.shape[1], initial_states.shape[1])
    h, states = initial_states, []
    for x in projected.unbind(1):
        h = torch.tanh(torch.addmm(x, h, w_hh.t()))
        states.append(h)
    return torch.stack(states, 1), h
'''


def _replace(old, new):
    assert old in MY_RNN, old
    return MY_RNN.replace(old, new)


# mistake name in gru_ref.assignments.rnn.RNN_MISTAKES -> an answer that makes it
WRONG = {
    "rnn_biases_missing": _replace("input[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh",
                                   "input[:, t] @ w_ih.T + h @ w_hh.T"),
    "rnn_input_bias_missing": _replace(" + b_ih + ", " + "),
    "rnn_hidden_bias_missing": _replace(" + b_hh)", ")"),
    "rnn_relu": _replace("torch.tanh(", "torch.relu("),
    "rnn_no_nonlinearity": _replace("torch.tanh(", "("),
    "rnn_w_hh_not_transposed": _replace("h @ w_hh.T", "h @ w_hh"),
    "rnn_state_not_carried": _replace("+ h @ w_hh.T", "+ initial_states @ w_hh.T"),
    "rnn_initial_state_ignored": _replace("    h = initial_states\n", "    h = torch.zeros_like(initial_states)\n"),
    "rnn_h_final_first_step": _replace("dim=1), h", "dim=1), states[0]"),
}

# any route to a built-in RNN kernel: each must earn no credit
CHEATS = {
    "nn.RNN": '''
def my_rnn(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    rnn = torch.nn.RNN(input.shape[2], initial_states.shape[1], batch_first=True,
                       dtype=input.dtype, device=input.device)
    with torch.no_grad():
        for p, w in zip(rnn.parameters(), (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(w)
    output, h_n = rnn(input, initial_states.unsqueeze(0))
    return output, h_n[0]
''',
    "torch.rnn_tanh": '''
def my_rnn(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    output, h_n = torch.rnn_tanh(input, initial_states.unsqueeze(0), [w_ih, w_hh, b_ih, b_hh],
                                 True, 1, 0.0, False, False, True)
    return output, h_n[0]
''',
    "nn.RNNCell in a loop": '''
def my_rnn(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    h, states = initial_states, []
    for t in range(input.shape[1]):
        h = torch._VF.rnn_tanh_cell(input[:, t], h, w_ih, w_hh, b_ih, b_hh)
        states.append(h)
    return torch.stack(states, 1), h
''',
    "torch.ops.aten.rnn_tanh.decompose": '''
def my_rnn(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    output, h_n = torch.ops.aten.rnn_tanh.input.decompose(input, initial_states.unsqueeze(0),
                                                          [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, True)
    return output, h_n[0]
''',
    "torch._decomp's Python RNN, captured early": '''
from torch._decomp.decompositions import rnn_tanh_input as _captured

def my_rnn(input, initial_states, w_ih, w_hh, b_ih, b_hh):
    output, h_n = _captured(input, initial_states.unsqueeze(0), [w_ih, w_hh, b_ih, b_hh], True, 1, 0.0, False, False, True)
    return output, h_n[0]
''',
}
