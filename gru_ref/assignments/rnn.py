"""The `rnn` assignment: my_rnn, the tanh RNN, checked against torch.nn.RNN; its known mistakes, each
with its lesson and its knobs (data: the code that computes them is the instructors',
gru_ref.reference.mistakes); the words of its messages.
"""
from torch import nn

from gru_ref.assignments.gru import SequenceTask
from gru_ref.judge.mistakes import Mistake

RNN_MISTAKES = (
    Mistake("rnn_biases_missing",
            "Neither bias is used. nn.RNN adds both: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).",
            knobs={"input_bias": False, "hidden_bias": False}),
    Mistake("rnn_input_bias_missing",
            "b_ih is not used. nn.RNN has two biases: add b_ih to the input projection x_t W_ih^T.",
            knobs={"input_bias": False}),
    Mistake("rnn_hidden_bias_missing",
            "b_hh is not used. nn.RNN has two biases: add b_hh to the hidden projection h_{t-1} W_hh^T.",
            knobs={"hidden_bias": False}),
    Mistake("rnn_relu",
            "The step uses ReLU where nn.RNN's default nonlinearity is tanh: h_t = tanh(...), "
            "torch.tanh, not torch.relu.",
            knobs={"squash": "relu"}),
    Mistake("rnn_no_nonlinearity",
            "The step has no nonlinearity: wrap the sum in torch.tanh(...).",
            knobs={"squash": "none"}),
    Mistake("rnn_w_hh_not_transposed",
            "w_hh is used without its transpose: h_{t-1} @ w_hh instead of h_{t-1} @ w_hh.T. Both are "
            "(H, H), so the shapes fit, but nn.RNN stores the weight as (out, in): multiply by w_hh.T.",
            knobs={"transpose_w_hh": False}),
    Mistake("rnn_state_not_carried",
            "Every step starts from initial_states. Carry the state: the h computed at step t is the "
            "h_prev of step t + 1.",
            loop="state_not_carried"),
    Mistake("rnn_initial_state_ignored",
            "initial_states is ignored (the loop starts from zeros). Start the loop from initial_states.",
            loop="initial_state_ignored"),
    Mistake("rnn_h_final_first_step",
            "h_final is the state after the first step. Return the state after the last step, "
            "which equals output[:, -1].",
            loop="h_final_first_step"),
)


class RnnTask(SequenceTask):
    """my_rnn(input, initial_states, w_ih, w_hh, b_ih, b_hh) -> (output, h_final): the tanh RNN."""
    name = "my_rnn"
    mistakes = RNN_MISTAKES
    module = nn.RNN  # nonlinearity="tanh", its default
    module_name = "RNN"
    blocks = 1
    builtins = "nn.RNN, nn.RNNCell, torch.rnn_tanh, torch._VF"
    write_with = "matmuls and torch.tanh"
    layout_hint = ("w_ih is (H, F) and w_hh is (H, H), so the projections are x @ w_ih.T (B, H) and "
                   "h @ w_hh.T (B, H); input is (B, T, F), so time step t is input[:, t].")
    equations_hint = ("Check the step against nn.RNN's: h_t = tanh(x_t @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh), "
                      "with h_prev the state of the step before (initial_states at t = 0).")


TASKS = (RnnTask(),)
