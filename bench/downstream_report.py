"""bench/downstream.py's figures: per size the three models over the seeds, the DAPT gain and
the student's share with 95 % intervals, the goals judged, and the Markdown table.

Each seed is one training sample and one fine-tuning seed, the same for the three models, so
differences and shares are paired by seed (`components.downstream.stats`: Student t over the
per-seed values, n - 1 degrees of freedom).
"""

from components.downstream import stats

ROLES = ("base", "adapted", "student")
SHARE_GOAL, SPEEDUP_GOAL = 0.95, 2.5
BERT_BASE_LAYERS, BERT_BASE_HIDDEN = 12, 768
NO_GENERAL_BASE = ("a randomly initialised BERT is not a general-domain pretrained base, so "
                   "this says what masked-LM training on GAOKAO text does over no pretraining, "
                   "not what DAPT does over a general model (Google's chinese_L-12_H-768_A-12 "
                   "is not available offline here)")


def summarize_models(per_seed, names):
    """per_seed: {seed: {name: {accuracy, macro_f1}}} → {name: {per_seed, accuracy_mean,
    accuracy_std, macro_f1_mean, macro_f1_std}} over the seeds, in sorted seed order."""
    seeds = sorted(per_seed)
    models = {}
    for name in names:
        models[name] = {"per_seed": {s: per_seed[s][name] for s in seeds}}
        for key in stats.METRICS:
            mean, std = stats.mean_std([per_seed[s][name][key] for s in seeds])
            models[name][f"{key}_mean"], models[name][f"{key}_std"] = mean, std
    return models


def summarize_size(per_seed):
    """per_seed: {seed: {role: {accuracy, macro_f1}}} → the size's models, gain and share."""
    models = summarize_models(per_seed, ROLES)
    return {"seeds": sorted(per_seed), "models": models,
            "adapted_minus_base": stats.difference(models, "adapted", "base"),
            "student_accuracy_share": stats.share(models, "student", "adapted")["accuracy"]}


def verdict_of_interval(low, high, goal, number="+.4f"):
    if low is None:
        return "too small to show", "one seed gives no interval"
    span = f"the 95 % interval ({low:{number}} to {high:{number}})"
    if low > goal:
        return "met", f"{span} is above {goal:g}"
    if high < goal:
        return "missed", f"{span} is below {goal:g}"
    return "too small to show", f"{span} includes {goal:g}"


def _judged(verdict, reason, stand_ins):
    """The goal's verdict: 'too small to show' whatever the figures when stand-ins made them."""
    if stand_ins:
        return {"verdict": "too small to show", "on_the_stand_ins": verdict,
                "reason": f"stand-ins ({'; '.join(stand_ins)}); on them: {verdict}, {reason}"}
    return {"verdict": verdict, "reason": reason}


def goals(result):
    """One line per goal and size: {goal, size, verdict, reason, measured}."""
    stand_in = {role: m["stand_in"] for role, m in result["models"].items() if m["stand_in"]}
    lines = []
    for size, figures in result["sizes"].items():
        gain = figures["adapted_minus_base"]["accuracy"]
        verdict, reason = verdict_of_interval(gain["ci95_low"], gain["ci95_high"], 0.0)
        dapt_stand_ins = [f"{r}: {stand_in[r]}" for r in ("base", "adapted") if r in stand_in]
        judged = _judged(verdict, reason, dapt_stand_ins)
        if "base" in stand_in:
            judged["reason"] += "; " + NO_GENERAL_BASE
        lines.append({"goal": "the adapted model beats a general-domain base by more than the "
                      "seed noise", "size": size, "measured": f"adapted - base accuracy "
                      f"{gain['mean']:+.4f}", **judged})
        share = figures["student_accuracy_share"]
        if share is None:
            share, verdict, reason = ({"mean": float("nan")}, "too small to show",
                                      "the teacher's accuracy was 0 on a seed")
        else:
            verdict, reason = verdict_of_interval(share["ci95_low"], share["ci95_high"],
                                                   SHARE_GOAL, ".4f")
        lines.append({"goal": f"the student keeps >= {SHARE_GOAL:.0%} of the teacher's (adapted "
                      "model's) accuracy", "size": size,
                      "measured": f"student / teacher accuracy {share['mean']:.4f}",
                      **_judged(verdict, reason, [f"{r}: {stand_in[r]}" for r in
                                                  ("adapted", "student") if r in stand_in])})
    speed = result.get("throughput")
    if speed:
        ratio = speed["ratio"]
        verdict = "met" if ratio >= SPEEDUP_GOAL else "missed"
        reason = (f"{ratio:.2f}x the teacher's sequences/s at batch {speed['batch']} x "
                  f"{speed['sequence']} on {speed['device']} (per-round ratios "
                  f"{speed['ratio_min']:.2f} to {speed['ratio_max']:.2f})")
        teacher = result["models"]["adapted"]
        shape_stand_in = [] if (teacher["num_hidden_layers"], teacher["hidden_size"]) == (
            BERT_BASE_LAYERS, BERT_BASE_HIDDEN) else [
            f"the teacher is {teacher['num_hidden_layers']} x {teacher['hidden_size']}, not "
            "BERT-base's 12 x 768: a forward pass's time depends on the shape, not the weights"]
        lines.append({"goal": f"the student's encoder throughput >= {SPEEDUP_GOAL:g}x the "
                      "teacher's", "size": None, "measured": f"{ratio:.2f}x",
                      **_judged(verdict, reason, shape_stand_in)})
    return lines


def plus_minus(mean, std):
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def interval(figure, number="+.4f"):
    if figure["ci95_low"] is None:
        return f"{figure['mean']:{number}}"
    return (f"{figure['mean']:{number}} (95 % CI {figure['ci95_low']:{number}} to "
            f"{figure['ci95_high']:{number}})")


def markdown(result):
    """The result as a Markdown section."""
    out = ["# bench/downstream.py", "", f"Data: {result['data']['description']}", ""]
    for role, model in result["models"].items():
        what = (f" (stand-in: {model['stand_in']})" if model["stand_in"] else
                f" ({model['description']})" if model.get("description") else "")
        out.append(f"- {role}: `{model['dir']}`, {model['num_hidden_layers']} x "
                   f"{model['hidden_size']}{what}; [UNK] share of the evaluation text "
                   f"{model['eval_unk_fraction']:.3f}")
    overlap = result.get("dapt_corpus")
    out.append("- DAPT corpus: " + (
        f"{overlap['eval_questions_found']} of {overlap['eval_questions']} evaluation questions "
        f"found in {overlap['passages_with_eval_text']} of {overlap['passages']} passages of "
        f"`{overlap['corpus_file']}`" if overlap else "not checked (no --dapt_corpus): the "
        "evaluation questions may have been seen, unlabelled, in the adapted model's "
        "pretraining"))
    out += ["", f"Recipe: {result['recipe_text']}", ""]
    for size, figures in result["sizes"].items():
        counts = figures["train_per_class"]
        out += [f"## {size} labelled examples per class ({len(figures['seeds'])} seeds; "
                f"{sum(counts.values())} training rows" + (
                    ", capped: " + ", ".join(f"{k} {v}" for k, v in figures["capped"].items())
                    if figures["capped"] else "") + ")", "",
                "| model | accuracy | macro-F1 |", "| --- | --- | --- |"]
        for role, model in figures["models"].items():
            out.append(f"| {role} | {plus_minus(model['accuracy_mean'], model['accuracy_std'])} | "
                       f"{plus_minus(model['macro_f1_mean'], model['macro_f1_std'])} |")
        gain, share = figures["adapted_minus_base"], figures["student_accuracy_share"]
        out += ["", f"- adapted − base accuracy: {interval(gain['accuracy'])}",
                f"- adapted − base macro-F1: {interval(gain['macro_f1'])}",
                f"- student / teacher accuracy: "
                f"{interval(share, '.4f') if share else 'none (the teacher scored 0)'}", ""]
    speed = result.get("throughput")
    if speed:
        out += ["## Encoder throughput (BertModel forward, no MLM head)", "",
                f"batch {speed['batch']} x {speed['sequence']} on {speed['device']} "
                f"({speed['precision']}), {speed['rounds']} rounds: teacher "
                f"{speed['teacher_sequences_per_second']:.1f} sequences/s, student "
                f"{speed['student_sequences_per_second']:.1f}: **{speed['ratio']:.2f}x**", ""]
    out += ["## Goals", ""]
    for line in result["goals"]:
        size = f", {line['size']} per class" if line["size"] else ""
        out.append(f"- {line['goal']}{size}: **{line['verdict']}** ({line['measured']}; "
                   f"{line['reason']})")
    for note in result["notes"]:
        out.append(f"- note: {note}")
    return "\n".join(out) + "\n"
