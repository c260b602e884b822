"""The course's registry of checks: which check function checks which task, plain data without
torch, shared by the notebooks' side (gru_ref.learner.check makes the check_* functions from it) and the
grader's plan (gru_ref.grading.plan reads test cells by it). A new assignment is its module in
gru_ref.assignments (its tasks, cases, mistakes and messages) and its line here."""

# check function -> (task, what the task computes, against which torch.nn module)
CHECKS = {
    "check_gru_cell": ("gru_cell", "gru_cell(x_t, h_prev, w_ih, w_hh, b_ih, b_hh) -> h_t", "torch.nn.GRUCell"),
    "check_my_gru": ("my_gru", "my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh) -> (output, h_final)",
                     "torch.nn.GRU"),
    "check_gru_cell_grad": ("gru_cell_grad", "gru_cell_grad(x_t, h_prev, w_ih, w_hh, b_ih, b_hh, grad_h_t) -> "
                            "grad_h_prev, by hand", "autograd through torch.nn.GRUCell"),
    "check_gru_bptt": ("gru_bptt", "gru_bptt(input, initial_states, w_ih, w_hh, b_ih, b_hh, grad_output, grad_h_final) "
                       "-> (grad_input, grad_initial_states, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh), by hand",
                       "autograd through torch.nn.GRU"),
    "check_my_rnn": ("my_rnn", "my_rnn(input, initial_states, w_ih, w_hh, b_ih, b_hh) -> (output, h_final)",
                     "torch.nn.RNN (tanh)"),
    "check_my_gru_layers": ("my_gru_layers", "my_gru_layers(input, h0, weights, num_layers, bidirectional, "
                            "batch_first) -> (output, h_n)", "torch.nn.GRU (layers, directions, batch_first)"),
    "check_mlp_shapes": ("mlp_shapes", "mlp_shapes(input_shape, sizes) -> (output_shape, weight_shapes, num_params)",
                         "a stack of torch.nn.Linear"),
    "check_conv2d_shapes": ("conv2d_shapes", "conv2d_shapes(input_shape, out_channels, kernel_size, stride, padding, "
                            "dilation, groups) -> (output_shape, weight_shapes, num_params)", "torch.nn.Conv2d"),
    "check_rnn_shapes": ("rnn_shapes", "rnn_shapes(kind, input_shape, hidden_size, num_layers, bidirectional, "
                         "batch_first) -> (output_shape, h_n_shape, weight_shapes, num_params)",
                         "torch.nn.RNN and torch.nn.GRU"),
    "check_train_gru": ("train_and_predict", "train_and_predict(train_x, train_y, test_x) -> logits, a model on "
                        "your own GRU trained from scratch", "held-out accuracy on chapter 7's task"),
}
# Seconds the checked function may take on all cases of one check, where the default (gru_ref.learner.check's
# RUN_TIMEOUT_S, the grader's check_timeout) is too short: train_and_predict trains a model.
TIME_LIMITS_S = {"train_and_predict": 60}
# Seconds of wall-clock time one notebook may take in grading, all its cells and checks together (the
# grader's deadline_s; each cell has 30 s of its own). train_gru retrains three times, up to 60 s each.
NOTEBOOK_TIME_LIMITS_S = {"gru": 180, "gru_bptt": 180, "rnn": 180, "gru_layers": 180, "shapes": 180,
                          "train_gru": 420}
# The assignment each task is graded in (train_gru checks my_gru too: the larger limit wins).
ASSIGNMENT_OF = {"gru_cell": "gru", "my_gru": "gru", "gru_cell_grad": "gru", "gru_bptt": "gru_bptt",
                 "my_rnn": "rnn", "my_gru_layers": "gru_layers", "mlp_shapes": "shapes", "conv2d_shapes": "shapes",
                 "rnn_shapes": "shapes", "train_and_predict": "train_gru"}
PARTS = ("contract", "quick", "values", "gradients", "devices")
DEFAULT_PARTS = ("contract", "quick")


def notebook_time_limit_s(tasks, default=180):
    """The wall-clock limit of a notebook that checks these tasks: its assignment's."""
    return max((NOTEBOOK_TIME_LIMITS_S[ASSIGNMENT_OF[t]] for t in tasks if t in ASSIGNMENT_OF), default=default)
