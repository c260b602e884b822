"""The `gru_bptt` assignment: gru_bptt, backpropagation through time by hand through a whole GRU layer,
checked against autograd through torch.nn.GRU; the slips a teacher sees in it, each computed for real
and paired with its lesson; and the words of its messages.

This module ships to learners with the checker, so it holds no importable right answer, and no
derivative written out either: a slip is computed by autograd through torch's own GRU cell (the
judge's truth, refused inside a learner's function twice over: a built-in kernel, and autodiff in a
by-hand part), one time step at a time in a reverse loop that carries the state's gradient, with the
slip put into that loop. The function refuses the right knobs.
"""
import torch

from gru_ref.assignments.gru import SequenceTask
from gru_ref.judge.cases import WEIGHT_NAMES, Case, module_weights
from gru_ref.judge.mistakes import Mistake

GRAD_NAMES = ("grad_input", "grad_initial_states", "grad_w_ih", "grad_w_hh", "grad_b_ih", "grad_b_hh")

RIGHT_BPTT_KNOBS = {"direct": True, "reset": "after_matmul", "carry": True, "weights": "summed",
                    "output_grads": True, "final_grad": True, "input_order": "forward"}


def _reset_term(r, h, w_hn, b_hn, how):
    """The reset gate's term inside n's tanh, as PyTorch writes it or as a slip does; only its
    gradient is used (the values of r, z and n are PyTorch's everywhere)."""
    if how == "after_matmul":  # PyTorch: r * (W_hn h + b_hn)
        return r * (h @ w_hn.T + b_hn)
    if how == "before_matmul":  # Cho et al.'s and d2l's place for r: W_hn (r * h) + b_hn
        return (r * h) @ w_hn.T + b_hn
    if how == "missing":  # r forgotten on the way back to W_hn, b_hn and h; r's own gradient kept
        return r * (h @ w_hn.T + b_hn).detach() + (h @ w_hn.T + b_hn)
    # "without_bias": r's gradient reads W_hn h without b_hn
    return r * (h @ w_hn.T) + r.detach() * b_hn


def _step_grads(x, h, w_ih, w_hh, b_ih, b_hh, grad_h_t, reset, direct):
    """(dx, dh_prev, dw_ih, dw_hh, db_ih, db_hh) of one step, by autograd through torch.gru_cell, with
    the reset gate's term or the direct path changed as a slip changes them."""
    H = h.shape[1]
    leaves = [t.detach().requires_grad_() for t in (x, h, w_ih, w_hh, b_ih, b_hh)]
    x, h, w_ih, w_hh, b_ih, b_hh = leaves
    with torch.enable_grad():
        gi = x @ w_ih.T + b_ih  # (B, 3H): torch's cell below reads it through an identity
        eye, zero = torch.eye(3 * H, dtype=gi.dtype, device=gi.device), gi.new_zeros(3 * H)
        h_t = torch.gru_cell(gi, h, eye, w_hh, zero, b_hh)
        grads = torch.autograd.grad(h_t, [gi, *leaves], grad_h_t, retain_graph=True)
        d_gi, grads = grads[0], list(grads[1:])
        if reset != "after_matmul":  # the slip's term minus PyTorch's, pulled back with n's own gradient
            r = torch.sigmoid(gi[:, :H] + h @ w_hh[:H].T + b_hh[:H])
            terms = [_reset_term(r, h, w_hh[2 * H:], b_hh[2 * H:], how) for how in (reset, "after_matmul")]
            change = torch.autograd.grad(terms[0] - terms[1], leaves, d_gi[:, 2 * H:], allow_unused=True)
            grads = [g if c is None else g + c for g, c in zip(grads, change)]
    if not direct:  # h_t = (1 - z) * n + z * h_prev: the z * h_prev term's share of dh_prev left out
        z = torch.sigmoid(gi[:, H:2 * H] + h @ w_hh[H:2 * H].T + b_hh[H:2 * H]).detach()
        grads[1] = grads[1] - grad_h_t * z
    return grads


def _bptt(input, h0, w_ih, w_hh, b_ih, b_hh, grad_output, grad_h_final, **knobs):
    """The six gradients of a GRU layer with at least one slip (knob) in its reverse loop."""
    knobs = {**RIGHT_BPTT_KNOBS, **knobs}
    # its own knobs only: checked in the only function that runs the reverse loop
    if knobs == RIGHT_BPTT_KNOBS or knobs.keys() != RIGHT_BPTT_KNOBS.keys():
        raise ValueError("a slip needs at least one knob turned away from the right gradient")
    T = input.shape[1]
    states = [h0]
    with torch.no_grad():
        for t in range(T):
            states.append(torch.gru_cell(input[:, t], states[-1], w_ih, w_hh, b_ih, b_hh))
    carried, grad_input, weights = torch.zeros_like(h0), [], None
    for t in reversed(range(T)):
        grad_h_t = (grad_output[:, t] if knobs["output_grads"] else 0) + (carried if knobs["carry"] else 0)
        if t == T - 1 and knobs["final_grad"]:
            grad_h_t = grad_h_t + grad_h_final
        grad_h_t = grad_h_t + torch.zeros_like(h0)  # a tensor even when every share is left out
        dx, carried, *step_weights = _step_grads(input[:, t], states[t], w_ih, w_hh, b_ih, b_hh, grad_h_t,
                                                 knobs["reset"], knobs["direct"])
        grad_input.append(dx)
        if weights is None or knobs["weights"] == "overwritten":  # "=": the last step visited (t = 0) stays
            weights = step_weights
        elif knobs["weights"] == "summed":
            weights = [w + s for w, s in zip(weights, step_weights)]
        # "last_step": the first step visited (t = T - 1) stays
    if knobs["input_order"] == "forward":
        grad_input = grad_input[::-1]  # collected from t = T - 1 down to 0
    return (torch.stack(grad_input, dim=1), carried, *weights)


BPTT_MISTAKES = (
    Mistake("bptt_direct_path_missing",
            "The direct path through z is missing: h_t = (1 - z) * n + z * h_prev uses h_prev itself, so "
            "dh_t * z is part of dL/dh_prev before anything flows back through the gates' projections.",
            knobs={"direct": False}),
    Mistake("bptt_state_grad_not_carried",
            "The state's gradient is not carried back: the dL/dh_prev a step computes belongs to the step "
            "before it, so dL/dh_t = grad_output[:, t] + (what step t + 1 sent back), with grad_h_final "
            "added at t = T - 1.",
            knobs={"carry": False}),
    Mistake("bptt_weights_overwritten",
            "The weight and bias gradients are not summed over time: they hold one step's share only (the "
            "last step the reverse loop visits, t = 0; `=` where `+=` belongs). Every step uses the same "
            "w_ih, w_hh, b_ih and b_hh, so their gradients add up the shares of all T steps.",
            knobs={"weights": "overwritten"}),
    Mistake("bptt_weights_last_step_only",
            "The weight and bias gradients hold the share of the last time step (t = T - 1) only: every step "
            "uses the same w_ih, w_hh, b_ih and b_hh, so add up the shares of all T steps.",
            knobs={"weights": "last_step"}),
    Mistake("bptt_reset_before_matmul",
            "The reset gate's term is placed before the matmul, as for W_hn (r * h): dL/dh_prev gets "
            "(d @ W_hn) * r and dL/dr gets (d @ W_hn) * h_prev. PyTorch computes r * (W_hn h + b_hn), so "
            "r multiplies first: (d * r) @ W_hn goes to h_prev (and (d * r) to W_hn and b_hn), and "
            "dL/dr = d * (W_hn h + b_hn), with d the gradient of n's pre-activation.",
            knobs={"reset": "before_matmul"}),
    Mistake("bptt_reset_factor_missing",
            "The reset gate's factor is missing on the way back through W_hn h + b_hn: n's pre-activation "
            "holds r * (W_hn h + b_hn), so W_hn, b_hn and h_prev receive d * r, not d (d the gradient "
            "of n's pre-activation).",
            knobs={"reset": "missing"}),
    Mistake("bptt_reset_skips_b_hn",
            "dL/dr leaves b_hn out: r multiplies W_hn h + b_hn, bias included, so dL/dr = d * (W_hn h + b_hn) "
            "(d the gradient of n's pre-activation).",
            knobs={"reset": "without_bias"}),
    Mistake("bptt_output_grads_ignored",
            "grad_output is not used: every output[:, t] feeds the loss, so dL/dh_t = grad_output[:, t] + "
            "(what step t + 1 sent back), not only what comes from grad_h_final.",
            knobs={"output_grads": False}),
    Mistake("bptt_final_grad_ignored",
            "grad_h_final is not used: h_final is the state after the last step, so add grad_h_final to "
            "dL/dh_t at t = T - 1 (the first step of the reverse loop).",
            knobs={"final_grad": False}),
    Mistake("bptt_grad_input_reversed",
            "grad_input is in reverse time order: the reverse loop computes dL/dx_t from t = T - 1 down to "
            "0, so put each one back at its own time step (grad_input[:, t]).",
            knobs={"input_order": "reverse"}),
)


class BpttTask(SequenceTask):
    """gru_bptt(input, initial_states, w_ih, w_hh, b_ih, b_hh, grad_output, grad_h_final) -> (grad_input,
    grad_initial_states, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh): the gradients of a loss with
    respect to every argument of my_gru, given its gradients with respect to my_gru's outputs."""
    name = "gru_bptt"
    arg_names = ("input", "initial_states") + WEIGHT_NAMES + ("grad_output", "grad_h_final")
    output_names = GRAD_NAMES
    output_letters = {"grad_input": "(B, T, F)", "grad_initial_states": "(B, H)", "grad_w_ih": "(3H, F)",
                      "grad_w_hh": "(3H, H)", "grad_b_ih": "(3H,)", "grad_b_hh": "(3H,)"}
    returns = "a tuple of six tensors (grad_input, grad_initial_states, grad_w_ih, grad_w_hh, grad_b_ih, grad_b_hh)"
    truth = "autograd through torch.nn.GRU"
    by_hand = True
    by_hand_hint = ("run the forward loop keeping what each step needs, then a reverse loop from t = T - 1 "
                    "down to 0 that carries dL/dh back through each step")
    mistakes = BPTT_MISTAKES
    mistakes_in_reference = False  # its slips ship here, computed by autograd (see above)
    layout_hint = ("input is (B, T, F), initial_states (B, H), grad_output (B, T, H), grad_h_final (B, H); "
                   "w_ih is (3H, F) and w_hh is (3H, H), so a step's gradient of its projections, d_gi and "
                   "d_gh (B, 3H), sends d_gi @ w_ih (B, F) to x_t and d_gh @ w_hh (B, H) to h_prev, and "
                   "adds d_gi.T @ x_t (3H, F) and d_gh.T @ h_prev (3H, H) to the weights' gradients.")
    equations_hint = ("Check one step at a time against the notebook's experiment cell: with T = 1 and "
                      "grad_output zero, grad_initial_states is one step's dL/dh_prev. Then the loop: "
                      "dL/dh_t = grad_output[:, t] + (what step t + 1 sent back), grad_h_final added at "
                      "t = T - 1, and the weights' gradients summed over all T steps.")

    def shapes(self, c):
        return {**super().shapes(c), "grad_output": (c.B, c.T, c.H), "grad_h_final": (c.B, c.H)}

    def output_shapes(self, c):
        G = self.blocks * c.H
        return {"grad_input": (c.B, c.T, c.F), "grad_initial_states": (c.B, c.H), "grad_w_ih": (G, c.F),
                "grad_w_hh": (G, c.H), "grad_b_ih": (G,), "grad_b_hh": (G,)}

    def shape_hint(self, c, got):
        weights = {(3 * c.H, c.F), (3 * c.H, c.H)}
        if len(got) == 2 and tuple(got[::-1]) in weights and tuple(got) not in weights:
            return (" It is transposed: a weight's gradient has the weight's own shape, so it is "
                    "d_gi.T @ x_t (3H, F) for w_ih and d_gh.T @ h_prev (3H, H) for w_hh.")
        return ""

    def where(self, c, names, bad, actual, expected, rtol, atol, largest):
        """Which gradients are wrong and which right, and the time steps where grad_input is wrong."""
        described = []
        for name in bad:
            if name == "grad_input":
                a, e = actual[names.index(name)].double(), expected[names.index(name)].double()
                steps = (~torch.isclose(a, e, rtol=rtol, atol=atol)).any(dim=2).any(dim=0).nonzero().flatten()
                name += f" (at time step(s) {', '.join(str(int(t)) for t in steps)} of 0..{c.T - 1})"
            described.append(name)
        right = [n for n in names if n not in bad]
        return (f"Wrong: {', '.join(described)}; {bad[0]}'s {largest}. "
                f"Right: {', '.join(right) if right else 'none of the six'}.")

    def run_mistake(self, mistake, inputs, c):
        return _bptt(*(inputs[n] for n in self.arg_names), **mistake.knobs)

    def expected(self, case, inputs):
        """Autograd through nn.GRU in float64: the same weights, the same inputs and output gradients."""
        as64 = {k: v.double() for k, v in inputs.items()}
        module = self.make_module(case, as64)
        x, h0 = as64["input"].clone().requires_grad_(), as64["initial_states"].clone().requires_grad_()
        with torch.enable_grad():
            output, h_n = module(x, h0.unsqueeze(0))
            return torch.autograd.grad((output, h_n), [x, h0, *module_weights(module)],
                                       (as64["grad_output"], as64["grad_h_final"].unsqueeze(0)))

    # T > 1 in every values case but one (a slip of the loop shows only across steps); F != H; B = 1 too.
    # The long case (4248 numbers to differentiate) takes a by-hand answer milliseconds, and finite
    # differences, which are no autodiff but no chain rule either, far longer than the time limit.
    parts = {
        "contract": (Case(2, 3, 4, 5, "float32", values=False), Case(1, 2, 3, 2, values=False),
                     Case(1, 2, 3, 2, device="meta", values=False)),
        "quick": (Case(2, 4, 3, 5), Case(1, 3, 2, 3, "float32")),
        "values": (Case(1, 1, 3, 2), Case(1, 6, 2, 3), Case(4, 2, 3, 5), Case(3, 5, 4, 2), Case(2, 7, 5, 5),
                   Case(5, 3, 1, 4), Case(2, 9, 3, 3), Case(2, 4, 6, 3, "float32"), Case(3, 6, 3, 4, "float32"),
                   Case(3, 24, 16, 24)),
        "devices": (Case(2, 3, 4, 5, "float32", device="meta"), Case(1, 2, 3, 2, device="meta")),
        "cuda": (Case(2, 5, 4, 3, "float32", device="cuda"), Case(3, 4, 2, 5, device="cuda")),
    }


TASKS = (BpttTask(),)
