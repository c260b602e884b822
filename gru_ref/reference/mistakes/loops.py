"""The loops a step is put in: the right batch-first one, under a wrong step, and the wrong ones, over
torch's own step (the judge's truth), the same for any recurrent step `cell`."""
import torch


def unroll(cell, input, h0, w_ih, w_hh, b_ih, b_hh):
    """A batch-first loop of `cell` over time: (output (B, T, H), h_final (B, H))."""
    h, states = h0, []
    for t in range(input.shape[1]):
        h = cell(input[:, t], h, w_ih, w_hh, b_ih, b_hh)
        states.append(h)
    return torch.stack(states, dim=1), h


def state_not_carried(input, h0, w_ih, w_hh, b_ih, b_hh, cell):
    steps = [cell(input[:, t], h0, w_ih, w_hh, b_ih, b_hh) for t in range(input.shape[1])]
    return torch.stack(steps, dim=1), steps[-1]


def initial_state_ignored(input, h0, w_ih, w_hh, b_ih, b_hh, cell):
    return unroll(cell, input, torch.zeros_like(h0), w_ih, w_hh, b_ih, b_hh)


def h_final_first_step(input, h0, w_ih, w_hh, b_ih, b_hh, cell):
    output, _ = unroll(cell, input, h0, w_ih, w_hh, b_ih, b_hh)
    return output, output[:, 0]


LOOPS = {"state_not_carried": state_not_carried, "initial_state_ignored": initial_state_ignored,
         "h_final_first_step": h_final_first_step}
