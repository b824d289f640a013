"""Trained-transformer experiments (mixing.lm): attention against its explicit-matrix
reference, causality, identities between mechanisms, gradients, resumable training,
export to the engine, the quick study and bad input."""

import json
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mixing.lm import data, reference  # noqa: E402
from mixing.lm import export as export_mod
from mixing.lm import transport as tr
from mixing.lm.__main__ import main  # noqa: E402
from mixing.lm.model import LM, MECHANISMS, Config, parse_mechanism  # noqa: E402
from mixing.lm.train import TrainConfig, read_checkpoint, train  # noqa: E402

#: tolerances per output (float64 throughout)
TOL = {"logits": 1e-10, "attention": 1e-10, "gradient": 1e-6}


#: every mechanism, and the options that change its computation
VARIANTS = MECHANISMS + (
    "path-forget:gate=fla",
    "so2-learned-forget:gate=fla",
    "fox:gate=fla",
    "rope:base=100",
    "so2-learned:zero",
)


def tiny(mechanism, seed=0, layers=1, width=12, heads=3):
    torch.manual_seed(seed)
    return LM(Config(**parse_mechanism(mechanism), layers=layers, width=width, heads=heads, seed=seed)).double()


def perturb(model, scale=0.3, seed=1):
    """Move every parameter off its initialisation (so gates, betas and tables are generic)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    words = [b"def ", b"return ", b"self", b"(x)", b":\n    ", b" = ", b"import ", b"np", b"\n", b"for i in range(10)"]
    for k in range(40):
        text = b"".join(words[i] for i in rng.integers(0, len(words), size=400))
        (root / f"f{k:02d}.py").write_bytes(text)
    return data.load(root)


# ---------------------------------------------------------------------------------------
# transport and attention against the reference


@pytest.mark.parametrize("T", [1, 7, 13])
def test_path_logits_match_explicit_products(T):
    g = torch.Generator().manual_seed(T)
    B, H, d = 2, 3, 6
    q, k = (
        torch.randn(B, H, T, d, generator=g, dtype=torch.float64),
        torch.randn(B, H, T, d, generator=g, dtype=torch.float64),
    )
    w = torch.nn.functional.normalize(torch.randn(B, H, T, d, generator=g, dtype=torch.float64), dim=-1)
    beta = 2 * torch.rand(B, H, T, generator=g, dtype=torch.float64)
    ref = tr.reference_logits(q, k, tr.householder_matrices(w, beta))
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    forms = (
        ("ut", tr.path_logits(q, k, w, beta)),
        ("scan", tr.path_logits_scan(q, k, w, beta)),
        ("chunked", tr.path_logits_chunked(q, k, w, beta, chunk=3)),
        ("one chunk", tr.path_logits_chunked(q, k, w, beta, chunk=64)),
    )
    for name, fast in forms:
        err = (fast - ref)[..., mask].abs().max().item()
        assert err < TOL["logits"], (name, err)


def test_path_forms_agree_at_long_length():
    g = torch.Generator().manual_seed(5)
    q, k = torch.randn(1, 2, 600, 8, generator=g), torch.randn(1, 2, 600, 8, generator=g)
    w = torch.nn.functional.normalize(torch.randn(1, 2, 600, 8, generator=g), dim=-1)
    beta = 1.5 + 0.5 * torch.rand(1, 2, 600, generator=g)
    ut = tr.path_logits(q, k, w, beta)
    with torch.no_grad():
        chunked = tr.householder_logits(q, k, w, beta)  # above SCAN_ABOVE: chunk by chunk
        scan = tr.path_logits_scan(q, k, w, beta)
    mask = torch.ones(600, 600, dtype=torch.bool).tril()
    assert (ut - chunked)[..., mask].abs().max().item() < 1e-3  # float32 inputs
    assert (scan - chunked)[..., mask].abs().max().item() < 1e-3


@pytest.mark.parametrize("mechanism", VARIANTS)
def test_attention_matches_reference(mechanism):
    model = perturb(tiny(mechanism))
    att = model.attentions()[0]
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 11, 12, generator=g, dtype=torch.float64)
    tokens = torch.randint(0, 256, (2, 11), generator=g)
    fast = att(x, tokens)
    ref = reference.attention(att, x, tokens)
    assert (fast - ref).abs().max().item() < TOL["attention"]
    att.fast = True  # the fused evaluation path
    with torch.no_grad():
        fused = att(x, tokens)
    assert (fused - ref).abs().max().item() < TOL["attention"]


def test_gate_scaling_differs_from_fox():
    a, b = perturb(tiny("path-forget")), perturb(tiny("path-forget:gate=fla"))
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, 256, (1, 15))
    assert (a(x) - b(x)).abs().max().item() > 1e-4


@pytest.mark.parametrize("mechanism", VARIANTS)
def test_causal(mechanism):
    model = perturb(tiny(mechanism, layers=2))
    g = torch.Generator().manual_seed(4)
    x = torch.randint(0, 256, (2, 17), generator=g)
    y = x.clone()
    y[:, 9:] = torch.randint(0, 256, (2, 8), generator=g)
    a, b = model(x), model(y)
    assert torch.equal(a[:, :9], b[:, :9])
    assert not torch.equal(a[:, 9:], b[:, 9:])  # the change is visible where it should be


def test_so2_with_constant_angles_is_rope():
    rope, so2 = tiny("rope"), tiny("so2-random")
    so2.load_state_dict({k: v for k, v in rope.state_dict().items()}, strict=False)
    theta = rope.attentions()[0].theta.double()
    so2.attentions()[0].angles.copy_(theta.expand(256, 3, 2))
    x = torch.randint(0, 256, (2, 19))
    assert (rope(x) - so2(x)).abs().max().item() < 1e-12


def test_path_with_beta_zero_is_nope():
    nope, path = tiny("nope"), tiny("path")
    path.load_state_dict(nope.state_dict(), strict=False)
    att = path.attentions()[0]
    with torch.no_grad():
        att.beta_proj.weight.zero_()
        att.beta_proj.bias.fill_(-800.0)  # beta = 2 sigmoid(-800) = 0
    x = torch.randint(0, 256, (2, 19))
    assert (nope(x) - path(x)).abs().max().item() < 1e-12
    with torch.no_grad():
        att.beta_proj.bias.fill_(0.0)
    assert (nope(x) - path(x)).abs().max().item() > 1e-4  # and the transport does act otherwise


def test_value_rotation_is_exact():
    g = torch.Generator().manual_seed(6)
    v = torch.randn(2, 3, 9, 8, generator=g, dtype=torch.float64)
    Phi = tr.accumulate(torch.randn(2, 3, 9, 4, generator=g, dtype=torch.float64))
    assert (tr.rotate(tr.rotate(v, -Phi), Phi) - v).abs().max().item() < 1e-14
    # one source, all weight on it: the output is P_{i<-j} v_j
    i, j = 8, 3
    P = tr.reference_paths(tr.so2_matrices(torch.diff(Phi, dim=-2, prepend=torch.zeros_like(Phi[..., :1, :]))))
    direct = torch.einsum("bhde,bhe->bhd", P[:, :, i, j], v[..., j, :])
    assert (
        tr.rotate(tr.rotate(v[..., j : j + 1, :], -Phi[..., j : j + 1, :]), Phi[..., i : i + 1, :])[..., 0, :] - direct
    ).abs().max().item() < 1e-12


def test_gradients_match_finite_differences():
    g = torch.Generator().manual_seed(7)
    T, d = 6, 4
    q, k = (torch.randn(1, 1, T, d, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2))
    w = torch.nn.functional.normalize(
        torch.randn(1, 1, T, d, generator=g, dtype=torch.float64), dim=-1
    ).requires_grad_()
    beta = (2 * torch.rand(1, 1, T, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(tr.path_logits, (q, k, w, beta), atol=TOL["gradient"])
    # a whole tiny model: the loss against its learned angles and PaTH projections
    for mech, names in (
        ("so2-learned-v", ("angles",)),
        ("path-forget", ("w_proj.weight", "beta_proj.bias", "gate.bias")),
    ):
        model = perturb(tiny(mech, width=8, heads=2))
        x = torch.randint(0, 256, (1, 9), generator=g)
        att = model.attentions()[0]
        for name in names:
            param = att.get_parameter(name)

            def loss_of(p, name=name, att=att, model=model, x=x):
                with torch.no_grad():
                    old = att.get_parameter(name).clone()
                    att.get_parameter(name).copy_(p)
                out = model(x).logsumexp(-1).sum()
                with torch.no_grad():
                    att.get_parameter(name).copy_(old)
                return out

            model.zero_grad()
            model(x).logsumexp(-1).sum().backward()
            grad = param.grad.clone()
            flat = param.detach().clone().flatten()
            idx = torch.nonzero(grad.flatten()).flatten()[:4]
            for i in idx.tolist():
                e = torch.zeros_like(flat)
                e[i] = 1e-6
                fd = (loss_of((flat + e).view_as(param)) - loss_of((flat - e).view_as(param))) / 2e-6
                assert abs(fd.item() - grad.flatten()[i].item()) < TOL["gradient"] * max(1.0, abs(fd.item())), (
                    mech,
                    name,
                )


# ---------------------------------------------------------------------------------------
# data, training, resume


def test_split_is_deterministic_and_by_file(tmp_path, corpus):
    again = data.load(corpus.fingerprint["source"])
    assert again.fingerprint == corpus.fingerprint
    assert all(np.array_equal(again.split(s), corpus.split(s)) for s in data.SPLITS)
    assert corpus.fingerprint["files"] == 40 and corpus.test.size > 0 and corpus.val.size > 0
    assert data._bucket("a/b.py") == data._bucket("a/b.py")
    b1 = data.batch(corpus.train, 4, 16, seed=3, step=9)
    assert np.array_equal(b1, data.batch(corpus.train, 4, 16, seed=3, step=9))
    assert not np.array_equal(b1, data.batch(corpus.train, 4, 16, seed=3, step=10))


def test_default_corpus_fingerprint():
    c = data.load()
    fp = c.fingerprint
    assert fp["source"] == "python-stdlib" and fp["files"] > 100 and fp["python"] == sys.version.split()[0]
    assert fp["bytes"] == sum(fp[f"{s}_bytes"] for s in data.SPLITS) - fp["files"]  # one separator per file


def test_killed_training_resumes_to_the_same_weights(tmp_path, corpus):
    cfg = Config(mechanism="path-forget", layers=1, width=16, heads=2)
    tc = TrainConfig(context=16, batch=4, steps=8, warmup=2, checkpoint_every=3, val_windows=4)
    whole = train(cfg, tc, corpus, tmp_path / "whole")

    def die(step, total, loss):
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(Config(**cfg.to_dict()), tc, corpus, tmp_path / "killed", progress=die)
    assert read_checkpoint(tmp_path / "killed")["step"] == 6
    resumed = train(Config(**cfg.to_dict()), tc, corpus, tmp_path / "killed")
    assert resumed["step"] == 8 and resumed["log"] == whole["log"]
    for key, val in whole["model"].items():
        assert torch.allclose(val, resumed["model"][key], atol=1e-6), key


def test_export_runs_in_the_engine(tmp_path, corpus, capsys):
    from mixing import sweep

    for mech, family in (("so2-learned", "so2"), ("path", "householder")):
        folder = tmp_path / mech
        tc = TrainConfig(context=16, batch=4, steps=3, warmup=1, checkpoint_every=3, val_windows=2)
        train(Config(mechanism=mech, layers=2, width=16, heads=2), tc, corpus, folder)
        from mixing.lm import load

        model = load(folder)
        out = tmp_path / f"{mech}.npz"
        info = export_mod.export(model, corpus, layer=1, head=1, path=out, length=64)
        assert info["rows"] == 64 and info["d"] == 8
        rc = sweep.main(
            [
                "--mechanism",
                family,
                "--param",
                f"generators={out}",
                "--lengths",
                "8,32",
                "--trials",
                "8",
                "--out",
                str(tmp_path / f"sweep-{mech}"),
            ]
        )
        assert rc == 0
        rows = (tmp_path / f"sweep-{mech}" / "results.csv").read_text().splitlines()
        assert len(rows) > 1 and ",8," in "".join(rows[1:])  # d = 8 taken from the file
        # row 0 is the generator of the last position: the query's own token
        z = np.load(out)
        tokens = torch.from_numpy(data.eval_windows(corpus.test, 64, 1)[:, :64])
        if family == "so2":
            last = model.attentions()[1].angles[tokens[0, -1], 1].detach().double().numpy()
            assert np.allclose(z["angles"][0], last)


def test_quick_run_cli(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "run",
        "--quick",
        "--mechanisms",
        "rope,alibi,so2-random:abs=0.3,so2-learned,path",
        "--seeds",
        "2",
        "--out",
        str(out),
        "--jobs",
        "1",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "| E1 |" in text and "| E4 |" in text and "L_stop" in text and "nan" not in text
    import csv

    rows = list(csv.DictReader(open(out / "results.csv")))
    metrics = {r["metric"] for r in rows}
    assert {
        "excess",
        "bpb_full",
        "bpb_sliding",
        "vs_alibi",
        "level",
        "L_stop",
        "L_cross",
        "far_mass",
        "far_mass_b5",
        "far_mass_ub",
        "B_train",
        "B_seen",
        "coherence",
        "window",
        "val_bpb",
    } <= metrics
    agg = [r for r in rows if r["seed"] == "all" and r["metric"] == "excess"]
    assert agg and all(r["seeds"] == "2" and float(r["lo"]) <= float(r["value"]) <= float(r["hi"]) for r in agg)
    man = json.loads((out / "manifest.json").read_text())
    assert man["corpus"]["files"] > 100 and len(man["models"]) == 10
    # the manifest header every part of the project shares
    from mixing.sweep.results import SCHEMA_VERSION

    assert (man["schema"], man["schema_version"]) == ("mixing.lm", SCHEMA_VERSION)
    assert man["versions"]["torch"] and man["versions"]["numpy"] and man["end"] >= man["start"]
    assert (out / "lm.png").read_bytes()[:4] == b"\x89PNG"
    ck = out / "models" / "path" / "seed1" / "model.pt"
    assert ck.exists() and ck.stat().st_size < 200_000
    # rerun: everything is reused (no training), same table
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert "trained in" not in again and again.split("figure:")[-1] == text.split("figure:")[-1]
    # another study's settings into the same folder: refused
    _one_line_exit_2(
        ["run", "--quick", "--mechanisms", "rope", "--windows", "3", "--out", str(out)], capsys, "other settings"
    )
    _one_line_exit_2(
        ["run", "--quick", "--mechanisms", "rope,rope", "--out", str(tmp_path / "dup")], capsys, "more than once"
    )


# ---------------------------------------------------------------------------------------
# bad input: one line, exit status 2


def _one_line_exit_2(argv, capsys, needle):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err, err


def test_bad_input(tmp_path, capsys, corpus):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "small.txt").write_bytes(b"tiny corpus")
    bad_ck = tmp_path / "old"
    bad_ck.mkdir()
    torch.save({"format": 0}, bad_ck / "checkpoint.pt")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    common = ["--steps", "1", "--out", str(tmp_path / "o")]
    _one_line_exit_2(["train", "--mechanism", "bogus", *common], capsys, "unknown mechanism")
    _one_line_exit_2(["train", "--mechanism", "so2-random:abs=-1", *common], capsys, "angle table")
    _one_line_exit_2(["train", "--mechanism", "rope:gate=fla", *common], capsys, "no forget gate")
    _one_line_exit_2(["train", "--mechanism", "path-forget:gate=x", *common], capsys, "fox or fla")
    _one_line_exit_2(
        ["train", "--mechanism", "rope", "--corpus", str(tmp_path / "nowhere"), *common], capsys, "does not exist"
    )
    _one_line_exit_2(["train", "--mechanism", "rope", "--corpus", str(empty), *common], capsys, "no text")
    _one_line_exit_2(
        ["train", "--mechanism", "rope", "--corpus", str(tmp_path / "small.txt"), *common], capsys, "--context"
    )
    _one_line_exit_2(["train", "--mechanism", "rope", "--width", "12", "--heads", "4", *common], capsys, "odd")
    _one_line_exit_2(["train", "--mechanism", "rope", "--steps", "0", "--out", "x"], capsys, "positive integer")
    _one_line_exit_2(
        ["eval", "--checkpoint", str(tmp_path / "missing"), "--out", str(tmp_path / "e")], capsys, "no checkpoint"
    )
    _one_line_exit_2(["eval", "--checkpoint", str(bad_ck), "--out", str(tmp_path / "e")], capsys, "format")
    _one_line_exit_2(
        ["eval", "--checkpoint", str(tmp_path / "junk"), "--out", str(tmp_path / "e")], capsys, "not a readable"
    )
    _one_line_exit_2(["run", "--quick", "--mechanisms", ",", "--out", str(tmp_path / "r")], capsys, "empty")
    _one_line_exit_2(["train", "--mechanism", "rope", "--device", "tpu", *common], capsys, "--device")
    _one_line_exit_2(["report", str(empty)], capsys, "no results.csv")


def test_missing_torch_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    _one_line_exit_2(["run", "--quick", "--out", "x"], capsys, 'pip install -e ".[lm]"')


def test_results_doc_tables_are_the_committed_studys_report():
    """docs/results.md's transformer tables are `mixing.lm report` of the committed study, not typed in."""
    from pathlib import Path

    from mixing.lm.report import verdict_table

    root = Path(__file__).resolve().parents[1]
    table = verdict_table(root / "figures" / "output" / "lm-run")
    assert "| E1 |" in table and "| B5 |" in table and "L_stop" in table
    assert table in (root / "docs" / "results.md").read_text()


def test_gpu_preset_fills_what_the_command_line_leaves_out(tmp_path):
    """run --preset gpu at toy size on the CPU: the options given win, the preset fills the rest
    (batch 64, its mechanism list), and the study runs end to end."""
    out = tmp_path / "gpu"
    assert (
        main(
            [
                "run",
                "--preset",
                "gpu",
                "--device",
                "cpu",
                "--layers",
                "1",
                "--width",
                "16",
                "--heads",
                "2",
                "--context",
                "16",
                "--steps",
                "2",
                "--seeds",
                "2",
                "--mechanisms",
                "rope,path",
                "--multiples",
                "2,4",
                "--windows",
                "4",
                "--jobs",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    man = json.loads((out / "manifest.json").read_text())
    assert man["model"] == {"layers": 1, "width": 16, "heads": 2}
    assert man["train"]["batch"] == 64 and man["train"]["device"] == "cpu" and man["train"]["steps"] == 2
    assert man["mechanisms"] == ["rope", "path"] and man["seeds"] == [0, 1] and man["multiples"] == [2, 4]
    from mixing.lm.__main__ import PRESETS, _apply_preset

    class A:
        preset = "gpu"

    a = A()
    _apply_preset(a, ["run", "--preset", "gpu"])
    assert (a.width, a.context, a.device, a.seeds) == (256, 256, "cuda", 3)
    assert main(["run", "--preset", "gpu", "--quick", "--out", str(tmp_path / "q")]) == 2
    assert set(PRESETS) == {"gpu"}
