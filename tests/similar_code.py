"""Right answers to the `gru` exercise (gru_cell and my_gru), generated in many independent styles, for
the similarity report's tests: each style is a choice along eight axes (loop, helpers, gate split,
where the input projection is made, matmul, update, output collection, sigmoid), and every name is
drawn from a pool, so that two answers written apart differ as two learners' would."""
import itertools
import random

AXES = {
    "loop": ("range", "unbind", "while", "enumerate"),
    "helpers": ("cell", "inline", "gates"),
    "split": ("chunk", "slice", "split", "weights"),
    "project": ("inside", "ahead"),
    "matmul": ("at", "matmul", "linear", "addmm"),
    "update": ("convex", "delta", "lerp"),
    "collect": ("stack", "fill", "cat"),
    "sigmoid": ("function", "method", "exp"),
}
NAMES = {
    "x": ("x_t", "xt", "x", "inp_t", "step_input", "token"),
    "h": ("h_prev", "h", "state", "hidden", "prev", "h_old"),
    "r": ("r", "reset", "r_t", "rg"), "z": ("z", "update", "z_t", "zg"), "n": ("n", "cand", "n_t", "new"),
    "gi": ("gi", "x_proj", "ih", "a_x", "proj_in"), "gh": ("gh", "h_proj", "hh", "a_h", "proj_hid"),
    "outs": ("outputs", "states", "hs", "collected", "seq"), "t": ("t", "step", "i", "k"),
    "H": ("H", "hidden_size", "hs_", "n_h"), "helper": ("gates", "compute_gates", "_gates", "three_gates"),
}


def _split(expr, H, how):
    if how in ("chunk", "weights"):
        return f"{expr}.chunk(3, dim=-1)"
    if how == "split":
        return f"{expr}.split({H}, dim=-1)"
    return f"({expr}[..., :{H}], {expr}[..., {H}:2 * {H}], {expr}[..., 2 * {H}:])"


def _mm(x, w, b, how):
    return {"at": f"{x} @ {w}.T + {b}", "matmul": f"torch.matmul({x}, {w}.t()) + {b}",
            "linear": f"torch.nn.functional.linear({x}, {w}, {b})", "addmm": f"torch.addmm({b}, {x}, {w}.T)"}[how]


def _sig(expr, how):
    return {"function": f"torch.sigmoid({expr})", "method": f"({expr}).sigmoid()",
            "exp": f"1 / (1 + torch.exp(-({expr})))"}[how]


def _update(n, z, h, how):
    return {"convex": f"(1 - {z}) * {n} + {z} * {h}", "delta": f"{n} + {z} * ({h} - {n})",
            "lerp": f"torch.lerp({n}, {h}, {z})"}[how]


def gru_source(style, rng):
    """(gru_cell source, my_gru source) of one style, names drawn with rng."""
    v = {k: rng.choice(pool) for k, pool in NAMES.items()}
    x, h, r, z, n, gi, gh, H, t, outs = (v[k] for k in ("x", "h", "r", "z", "n", "gi", "gh", "H", "t", "outs"))
    s = style
    # the step, written once as the body of gru_cell (projections of x and h in gi and gh)
    if s["split"] == "weights":  # each gate's own rows of the weights, matmul per gate
        proj = [f"    {H} = w_hh.shape[1]"]
        for gate, lo, hi in (("r", "", H), ("z", H, f"2 * {H}"), ("n", f"2 * {H}", "")):
            rows = f"{lo}:{hi}"
            proj += [f"    i_{gate} = {_mm(x, f'w_ih[{rows}]', f'b_ih[{rows}]', s['matmul'])}",
                     f"    h_{gate} = {_mm(h, f'w_hh[{rows}]', f'b_hh[{rows}]', s['matmul'])}"]
    else:
        proj = [f"    {H} = w_hh.shape[1]", f"    {gi} = {_mm(x, 'w_ih', 'b_ih', s['matmul'])}",
                f"    {gh} = {_mm(h, 'w_hh', 'b_hh', s['matmul'])}",
                f"    i_r, i_z, i_n = {_split(gi, H, s['split'])}", f"    h_r, h_z, h_n = {_split(gh, H, s['split'])}"]
    body = [f"    {r} = {_sig('i_r + h_r', s['sigmoid'])}", f"    {z} = {_sig('i_z + h_z', s['sigmoid'])}",
            f"    {n} = torch.tanh(i_n + {r} * h_n)", f"    return {_update(n, z, h, s['update'])}"]
    helper = ""
    if s["helpers"] == "gates":  # r and z in a helper of their own
        helper = (f"def {v['helper']}(i_r, i_z, h_r, h_z):\n    return {_sig('i_r + h_r', s['sigmoid'])}, "
                  f"{_sig('i_z + h_z', s['sigmoid'])}\n\n\n")
        body = [f"    {r}, {z} = {v['helper']}(i_r, i_z, h_r, h_z)"] + body[2:]
    cell = helper + f"def gru_cell({x}, {h}, w_ih, w_hh, b_ih, b_hh):\n" + "\n".join(proj + body) + "\n"

    # the loop over time
    step = (f"gru_cell({x}, {h}, w_ih, w_hh, b_ih, b_hh)" if s["helpers"] != "inline" else None)
    lines = ["def my_gru(input, initial_states, w_ih, w_hh, b_ih, b_hh):", f"    {h} = initial_states",
             f"    B, T, _ = input.shape"]
    if s["collect"] == "fill":
        lines.append(f"    {outs} = input.new_empty(B, T, w_hh.shape[1])")
    else:
        lines.append(f"    {outs} = []")
    if s["project"] == "ahead" and s["helpers"] == "inline" and s["split"] != "weights":
        lines.append(f"    all_{gi} = {_mm('input', 'w_ih', 'b_ih', 'at' if s['matmul'] == 'addmm' else s['matmul'])}")
    head = {"range": f"    for {t} in range(T):\n        {x} = input[:, {t}]",
            "unbind": f"    for {t}, {x} in enumerate(input.unbind(1)):",
            "while": f"    {t} = 0\n    while {t} < T:\n        {x} = input[:, {t}]",
            "enumerate": f"    for {t}, {x} in enumerate(input.transpose(0, 1)):"}[s["loop"]]
    lines.append(head)
    if step:
        lines.append(f"        {h} = {step}")
    else:  # the step written out in the loop
        inner = [line.replace("    ", "        ", 1) for line in proj + body]
        if s["project"] == "ahead" and s["split"] != "weights":
            inner[1] = f"        {gi} = all_{gi}[:, {t}]"
        inner[-1] = inner[-1].replace("        return ", f"        {h} = ")
        lines += inner
    lines.append(f"        {outs}[:, {t}] = {h}" if s["collect"] == "fill" else
                 f"        {outs}.append({h}.unsqueeze(1))" if s["collect"] == "cat" else f"        {outs}.append({h})")
    if s["loop"] == "while":
        lines.append(f"        {t} += 1")
    result = {"fill": outs, "cat": f"torch.cat({outs}, dim=1)", "stack": f"torch.stack({outs}, dim=1)"}[s["collect"]]
    lines.append(f"    return {result}, {h}")
    return cell, "\n".join(lines) + "\n"


def independent_styles(count=50, least_apart=3, seed=0):
    """`count` styles, any two apart on at least `least_apart` of the axes."""
    rng = random.Random(seed)
    every = [dict(zip(AXES, values)) for values in itertools.product(*AXES.values())]
    for style in every:  # the input projection is made ahead only where the step is written in the loop
        if style["helpers"] != "inline" or style["split"] == "weights":
            style["project"] = "inside"
    every = list({tuple(style.values()): style for style in every}.values())
    rng.shuffle(every)
    chosen = []
    for style in every:
        if all(sum(style[a] != other[a] for a in AXES) >= least_apart for other in chosen):
            chosen.append(style)
        if len(chosen) == count:
            return chosen
    raise ValueError("not enough styles that far apart")


def independent_answers(count=50, seed=0):
    """{learner: {"gru_cell": source, "my_gru": source}} of `count` right answers written apart."""
    rng = random.Random(seed)
    return {f"learner{i:02d}": dict(zip(("gru_cell", "my_gru"), gru_source(style, rng)))
            for i, style in enumerate(independent_styles(count, seed=seed))}
