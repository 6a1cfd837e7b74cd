"""The memory planner (rltrain.planning): parameter counts of the shipped model configs against the
published sizes, the model-state terms against DeepSpeed's own estimators, and the terms' formulas on
hand-checked cases."""

import contextlib
import io
import json

import pytest

from rltrain.models.shipped import MODEL_CONFIG_DIR
from rltrain.planning.memory import (
    MODEL_STATE_KEYS,
    PlanContext,
    estimate_memory,
    layer_activation_bytes_per_token,
    zero2_model_states,
    zero3_model_states,
)
from rltrain.planning.model_shape import ModelConfigNotFound, locate_config, shape_from_config_file
from rltrain.planning.workload import GIB, Hardware, Workload

CONFIGS = MODEL_CONFIG_DIR

PUBLISHED = {
    # model card / hub figures: total parameters, tied embeddings counted once
    "deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B": 1.78e9,
    "deepseek-ai__DeepSeek-R1-Distill-Qwen-7B": 7.62e9,
    "Qwen__QwQ-32B": 32.8e9,
    "Qwen__Qwen3-8B": 8.19e9,
    "Skywork__Skywork-Reward-V2-Qwen3-0.6B": 0.596e9,
    "Skywork__Skywork-Reward-V2-Qwen3-1.7B": 1.72e9,
}


def shape(name: str):
    return shape_from_config_file(CONFIGS / name / "config.json", name.replace("__", "/"))


def workload(**changes) -> Workload:
    base = Workload(
        stage="grpo", zero="zero3", offload=False, weight_bytes=2, activation_bytes=2, micro_batch=1,
        prompt_tokens=1024, completion_tokens=3072, prompt_source="test", gradient_checkpointing=True,
        attn_implementation="sdpa", lm_head_fp32=False, causal_lm_head=True, beta=0.0, generation="vllm_server",
        vllm_gpu_memory_utilization=0.0, vllm_sleep=False, vllm_tensor_parallel=1, generation_batch_per_rank=16,
        gather_for_generation=True,
    )
    return base.with_changes(**changes)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_counts_match_the_published_sizes(name):
    counted = shape(name).num_params
    assert counted == pytest.approx(PUBLISHED[name], rel=0.005), f"{name}: {counted / 1e9:.3f}B"


def test_shapes_read_the_fields_that_matter():
    qwq = shape("Qwen__QwQ-32B")
    assert (qwq.hidden_size, qwq.intermediate_size, qwq.num_layers) == (5120, 27648, 64)
    assert (qwq.num_attention_heads, qwq.num_kv_heads, qwq.head_dim, qwq.vocab_size) == (40, 8, 128, 152064)
    assert not qwq.tie_word_embeddings and qwq.max_position_embeddings == 40960 and not qwq.qk_norm
    qwen3 = shape("Qwen__Qwen3-8B")
    assert qwen3.head_dim == 128 and qwen3.qk_norm
    rm = shape("Skywork__Skywork-Reward-V2-Qwen3-0.6B")
    assert rm.sequence_classification and rm.tie_word_embeddings and rm.architecture == "Qwen3ForSequenceClassification"
    # DeepSpeed's "largest layer": the embedding (vocab x hidden) in these models
    assert qwq.largest_layer_params == 152064 * 5120


def test_lora_parameters_are_counted_on_the_real_projections():
    r1_7b = shape("deepseek-ai__DeepSeek-R1-Distill-Qwen-7B")
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    h, kv, i, layers = 3584, 512, 18944, 28
    per_layer = (h + h) + (h + kv) + (h + kv) + (h + h) + 2 * (h + i) + (i + h)
    assert r1_7b.lora_params(targets, 32) == 32 * per_layer * layers  # ~81M, as stage1_7b_lora.yaml says
    assert r1_7b.lora_params(targets, 32) == pytest.approx(80.7e6, rel=0.01)


# --- DeepSpeed's estimators ---------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [12_345, 1_777_088_000, 7_615_616_512, 32_763_876_352])
@pytest.mark.parametrize(("gpus", "nodes"), [(1, 1), (8, 1), (8, 4), (4, 3)])
def test_model_state_formulas_are_deepspeeds(params, gpus, nodes):
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    largest = params // 40
    for offload in (True, False):
        assert zero2_model_states(params, gpus_per_node=gpus, nodes=nodes, cpu_offload=offload) == \
            estimate_zero2_model_states_mem_needs(params, gpus, nodes, cpu_offload=offload)
        for offload_params in (True, False):
            for zero_init in (True, False):
                ours = zero3_model_states(params, largest, gpus_per_node=gpus, nodes=nodes, cpu_offload=offload,
                                          cpu_offload_params=offload_params, zero_init=zero_init)
                theirs = estimate_zero3_model_states_mem_needs(params, largest, gpus, nodes, cpu_offload=offload,
                                                               cpu_offload_params=offload_params, zero_init=zero_init)
                assert ours == theirs


def _recorded_estimates(monkeypatch, live_model, gpus: int, nodes: int) -> dict[str, int]:
    """GPU bytes DeepSpeed's ``*_all_live`` estimators compute for ``live_model`` (a real module: they count
    its parameters themselves), per rltrain distributed mode."""
    import deepspeed.runtime.zero.stage3 as stage3
    import deepspeed.runtime.zero.stage_1_and_2 as stage2

    seen: dict[str, int] = {}
    zero2, zero3 = stage2.estimate_zero2_model_states_mem_needs, stage3.estimate_zero3_model_states_mem_needs

    def record2(**kwargs):
        cpu, gpu = zero2(**kwargs)
        if not kwargs["cpu_offload"]:
            seen["zero2"] = gpu
        return cpu, gpu

    def record3(**kwargs):
        cpu, gpu, largest = zero3(**kwargs)
        if kwargs["zero_init"] and kwargs["cpu_offload"] == kwargs["cpu_offload_params"]:
            seen["zero3_offload" if kwargs["cpu_offload"] else "zero3"] = gpu
        return cpu, gpu, largest

    monkeypatch.setattr(stage2, "estimate_zero2_model_states_mem_needs", record2)
    monkeypatch.setattr(stage3, "estimate_zero3_model_states_mem_needs", record3)
    with contextlib.redirect_stdout(io.StringIO()):
        stage2.estimate_zero2_model_states_mem_needs_all_live(live_model, num_gpus_per_node=gpus, num_nodes=nodes)
        stage3.estimate_zero3_model_states_mem_needs_all_live(live_model, num_gpus_per_node=gpus, num_nodes=nodes)
    return seen


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize(("gpus", "nodes"), [(8, 1), (8, 2)])
def test_model_state_terms_equal_deepspeeds_all_live_estimates(monkeypatch, tmp_path, tied, gpus, nodes):
    """The plan's weights + gradients + optimizer (+ gathered layer) terms, from the config alone, equal what
    DeepSpeed's estimators say for the instantiated model, tied embeddings included."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(hidden_size=96, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=24, vocab_size=1000, tie_word_embeddings=tied)
    config.save_pretrained(tmp_path)
    torch.manual_seed(0)
    expected = _recorded_estimates(monkeypatch, Qwen3ForCausalLM(config), gpus, nodes)
    model = shape_from_config_file(tmp_path / "config.json", "small")
    for mode, zero, offload in (("zero2", "zero2", False), ("zero3", "zero3", False), ("zero3_offload", "zero3", True)):
        ctx = PlanContext(model, workload(zero=zero, offload=offload), Hardware(nodes, gpus, 80 * GIB))
        plan = estimate_memory(ctx)
        assert plan.model_state_bytes == expected[mode], mode
        assert {t.key for t in plan.terms} >= (MODEL_STATE_KEYS - ({"gathered_layer"} if zero == "zero2" else set()))


def test_model_states_at_32b_on_four_nodes():
    """The docs' arithmetic: 18 bytes per parameter over 32 ranks, plus 4 bytes per parameter of the embedding."""
    qwq = shape("Qwen__QwQ-32B")
    plan = estimate_memory(PlanContext(qwq, workload(), Hardware(4, 8, 80 * GIB)))
    assert plan.model_state_bytes == 4 * 152064 * 5120 + int(18 * qwq.num_params / 32)
    terms = {t.key: t.bytes for t in plan.terms}
    assert terms["weights"] == int(2 * qwq.num_params / 32) and terms["gradients"] == int(4 * qwq.num_params / 32)


# --- the other terms --------------------------------------------------------------------------------------


def test_activation_formula_per_layer():
    """Saved bytes per token of a Qwen2 layer, bf16, padded batch (keys/values repeated): two norms
    (fp32 input + normalised + scaled), q/k/v/attention output, 4 MLP-wide tensors, small fp32 scalars."""
    qwq = shape("Qwen__QwQ-32B")
    h, i, nh, hd = 5120, 27648, 40, 128
    expected = 2 * 8 * h + 8 + (2 * nh * hd + 2 * nh * hd) * 2 + 4 * nh + 4 * i * 2
    assert layer_activation_bytes_per_token(qwq, 2, repeated_kv=True) == expected
    assert layer_activation_bytes_per_token(qwq, 2, repeated_kv=False) == expected - 2 * (nh - 8) * hd * 2


def test_checkpointing_keeps_one_input_per_layer_and_recomputes_one_layer():
    qwq = shape("Qwen__QwQ-32B")
    long = workload(prompt_tokens=8192, completion_tokens=32768)
    tokens = 40960
    with_ckpt = estimate_memory(PlanContext(qwq, long, Hardware(4, 8, 80 * GIB)))
    without = estimate_memory(PlanContext(qwq, long.with_changes(gradient_checkpointing=False), Hardware(4, 8, 80 * GIB)))
    stored = with_ckpt.term("activations").bytes
    assert stored == tokens * (64 * 5120 * 2 + (4 + 4) * 5120 + 2 * 5120)
    assert without.term("activations").bytes > 30 * stored
    layer = layer_activation_bytes_per_token(qwq, 2, repeated_kv=True) + (2 * 27648 + 2 * 5120) * 2
    assert with_ckpt.term("backward_peak").bytes == tokens * layer + tokens**2 * 2  # + the layer's mask bias
    short = estimate_memory(PlanContext(qwq, workload(), Hardware(4, 8, 80 * GIB)))
    assert short.term("backward_peak").formula.startswith("LM head backward")  # 4k tokens: the head's fp32 grads win


def test_flash_attention_drops_the_mask():
    qwq = shape("Qwen__QwQ-32B")
    sdpa = estimate_memory(PlanContext(qwq, workload(), Hardware(4, 8, 80 * GIB)))
    flash = estimate_memory(PlanContext(qwq, workload(attn_implementation="flash_attention_2"), Hardware(4, 8, 80 * GIB)))
    assert sdpa.term("attention_mask").bytes == 4096**2 and flash.term("attention_mask") is None
    assert flash.peak_bytes < sdpa.peak_bytes


def test_the_lm_head_backward_holds_an_fp32_weight_gradient_not_full_logits():
    """TRL's fused head: one 4,096 x 32,768 tile, the fp32 gradient of the V x h head and of the hidden
    states, never tokens x vocabulary logits."""
    r1 = shape("deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B")
    ctx = PlanContext(r1, workload(micro_batch=8, completion_tokens=8192, prompt_tokens=2048, zero="zero2"),
                      Hardware(1, 8, 80 * GIB))
    from rltrain.planning.memory import lm_head_backward_bytes

    head, formula = lm_head_backward_bytes(ctx)
    scored = 8 * 8192
    assert head == 4096 * 32768 * 2 + 151936 * 1536 * (4 + 2) + scored * 1536 * (4 + 2)
    assert head < scored * 151936 * 4 / 10  # far below the full fp32 logits


def test_vllm_share_and_kv_cache():
    r1_7b = shape("deepseek-ai__DeepSeek-R1-Distill-Qwen-7B")
    w = workload(generation="vllm_colocate", vllm_gpu_memory_utilization=0.35, vllm_sleep=True, prompt_tokens=4096,
                 completion_tokens=16384, generation_batch_per_rank=32, micro_batch=2)
    plan = estimate_memory(PlanContext(r1_7b, w, Hardware(1, 8, 80 * GIB)))
    assert plan.term("vllm").bytes == int(0.35 * 80 * GIB) and plan.term("vllm").phases == ("generation",)
    kv = plan.kv_cache
    assert kv.bytes_per_token == 2 * 28 * 4 * 128 * 2
    assert kv.needed_bytes == 32 * 20480 * kv.bytes_per_token
    assert kv.capacity_bytes == int(0.35 * 80 * GIB) - 2 * r1_7b.num_params
    assert kv.starts and 0 < kv.sequences_at_once < 32
    awake = estimate_memory(PlanContext(r1_7b, w.with_changes(vllm_sleep=False), Hardware(1, 8, 80 * GIB)))
    assert awake.phase_total("training") == plan.phase_total("training") + int(0.35 * 80 * GIB)


def test_reference_model_is_sharded_under_zero3_and_whole_under_zero2():
    r1 = shape("deepseek-ai__DeepSeek-R1-Distill-Qwen-1.5B")
    hw = Hardware(1, 8, 80 * GIB)
    z3 = estimate_memory(PlanContext(r1, workload(beta=0.001), hw)).term("reference").bytes
    z2 = estimate_memory(PlanContext(r1, workload(beta=0.001, zero="zero2"), hw)).term("reference").bytes
    assert z3 == int(2 * r1.num_params / 8) and z2 == 2 * r1.num_params
    assert estimate_memory(PlanContext(r1, workload(), hw)).term("reference") is None
    lora = estimate_memory(PlanContext(r1, workload(beta=0.001, trainable_params=10**7), hw))
    assert lora.term("reference").bytes == 0  # the base with the adapters disabled


# --- finding config.json --------------------------------------------------------------------------------


def test_configs_are_found_offline_or_the_error_says_where_to_put_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    found = locate_config("Qwen/QwQ-32B", search_dirs=[CONFIGS])
    assert found == CONFIGS / "Qwen__QwQ-32B" / "config.json"
    local = tmp_path / "my-model"
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    assert locate_config("my-model", base_dir=tmp_path) == local / "config.json"
    with pytest.raises(ModelConfigNotFound) as err:
        locate_config("nobody/nothing", search_dirs=[tmp_path])
    message = str(err.value)
    assert "nobody__nothing/config.json" in message and "--model-configs" in message and "--config" in message


def test_a_config_in_the_hugging_face_cache_is_found(tmp_path, monkeypatch):
    """The cache's layout: models--org--name/snapshots/<revision>/config.json with refs/main naming it."""
    repo = tmp_path / "hub" / "models--someorg--somemodel"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text((CONFIGS / "Qwen__Qwen3-8B" / "config.json").read_text())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert locate_config("someorg/somemodel") == snapshot / "config.json"
