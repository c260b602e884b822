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
PARTS = ("contract", "quick", "values", "gradients", "devices")
DEFAULT_PARTS = ("contract", "quick")
