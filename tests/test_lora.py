"""LoRA adapters (recipe section ``peft``): validation against the model's real modules, the config TRL gets,
the adapter-disabled reference of GRPO, merged ``final/`` weights, adapter-only checkpoints, and a stage
that starts from a base model plus an adapter. Multi-process runs and resume: tests/test_lora_distributed.py."""

from pathlib import Path

import pytest
import torch
import yaml

from rltrain.errors import RecipeError
from rltrain.models.adapters import (
    ADAPTER_DIR,
    DEFAULT_TARGET_MODULES,
    lora_config,
    module_catalogue,
    parameter_counts,
)
from rltrain.recipe import TinyModelConfig, load_recipe, recipe_from_dict

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
        "intermediate_size": 64}
REPO = Path(__file__).resolve().parents[1]


def sft_raw(out: Path, **peft) -> dict:
    return {
        "name": "lora-sft",
        "stage": "sft",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 64, "max_a": 19, "max_b": 9},
                 "completion_column": "solution", "instruction": "Box it.", "eval_size": 0},
        "sft": {"max_steps": 4, "save_steps": 2, "per_device_train_batch_size": 4, "max_length": 128,
                "logging_steps": 1, "learning_rate": 1e-2},
        "peft": {"rank": 4, **peft},
        "logging": {"progress": False},
        "output_dir": str(out),
    }


def grpo_raw(out: Path, **grpo) -> dict:
    return {
        "name": "lora-grpo",
        "model": {"name_or_path": "tiny", "tiny": TINY},
        "data": {"source": "synthetic:arithmetic", "synthetic": {"size": 64, "max_a": 19, "max_b": 9},
                 "prompt_template": "{prompt}", "eval_size": 0},
        "rewards": [{"name": "think_format"}],
        "grpo": {"max_steps": 2, "per_device_train_batch_size": 4, "num_generations": 2, "max_completion_length": 8,
                 "learning_rate": 1e-2, **grpo},
        "peft": {"rank": 4},
        "logging": {"progress": False},
        "output_dir": str(out),
    }


def tiny_base():
    from rltrain.models.tiny import build_tiny

    model, _ = build_tiny(TinyModelConfig(**TINY))
    return model.eval()


def logits(model, seed: int = 0) -> torch.Tensor:
    ids = torch.randint(5, 200, (2, 12), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model(input_ids=ids).logits


# --- Validation ---

def test_an_unknown_target_module_is_named_with_the_models_real_modules(tmp_path):
    with pytest.raises(RecipeError) as err:
        recipe_from_dict(sft_raw(tmp_path, target_modules=["q_proj", "q_prj", "mlp"]))
    message = str(err.value)
    assert "peft.target_modules.1: 'q_prj' names no module of Qwen2ForCausalLM" in message
    assert "k_proj, lm_head, o_proj, q_proj, up_proj, v_proj" in message and "did you mean q_proj" in message
    assert "peft.target_modules.2: 'mlp' is a Qwen2MLP" in message and "down_proj, gate_proj, up_proj" in message
    assert "2 problems" in message


def test_modules_to_save_are_checked_against_the_reward_model(tmp_path):
    raw = {**sft_raw(tmp_path, modules_to_save=["scor"]), "stage": "reward",
           "data": {"source": "synthetic:preferences", "synthetic": {"size": 16}}}
    with pytest.raises(RecipeError, match=r"peft.modules_to_save.0: 'scor' names no module of Qwen2ForSequenceClassification.*"
                                          r"did you mean score\?"):
        recipe_from_dict(raw)


@pytest.mark.parametrize(("peft", "grpo", "expected"), [
    ({"target_modules": []}, {}, "empty list adapts nothing"),
    ({"target_modules": ["q_proj", "q_proj"]}, {}, "listed more than once"),
    ({"rank": 0}, {}, "peft.rank"),
    ({"dropout": 1.0}, {}, "peft.dropout"),
    ({"target_modules": "all"}, {}, "peft.target_modules"),
    ({}, {"sync_ref_model": True, "beta": 0.1}, "adapters disabled"),
])
def test_bad_peft_settings_are_refused_at_load(tmp_path, peft, grpo, expected):
    raw = grpo_raw(tmp_path, **grpo)
    raw["peft"] = peft
    with pytest.raises(RecipeError, match=expected):
        recipe_from_dict(raw)


def test_a_missing_adapter_directory_is_refused(tmp_path):
    raw = sft_raw(tmp_path)
    raw["model"]["adapter"] = str(tmp_path / "nowhere")
    with pytest.raises(RecipeError, match="model.adapter: directory not found"):
        recipe_from_dict(raw)
    (tmp_path / "empty").mkdir()
    raw["model"]["adapter"] = str(tmp_path / "empty")
    with pytest.raises(RecipeError, match="no adapter_config.json"):
        recipe_from_dict(raw)


def test_a_pipeline_stage_may_start_from_an_adapter_an_earlier_stage_writes(tmp_path):
    from rltrain.run.pipeline import load_pipeline

    (tmp_path / "sft.yaml").write_text(yaml.safe_dump(sft_raw(tmp_path / "unused")))
    grpo = grpo_raw(tmp_path / "unused")
    del grpo["peft"]  # a full fine-tune after a LoRA stage
    (tmp_path / "grpo.yaml").write_text(yaml.safe_dump(grpo))
    pipeline = {"output_dir": str(tmp_path / "out"), "stages": [
        {"name": "sft", "recipe": "sft.yaml"},
        {"name": "grpo", "recipe": "grpo.yaml", "from_previous": False,
         "set": {"model.adapter": "{output_dir}/sft/final/adapter"}},
    ]}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    _, recipes = load_pipeline(path)
    assert recipes[0].peft is not None and recipes[1].peft is None
    assert recipes[1].model.adapter == str((tmp_path / "out" / "sft" / "final" / ADAPTER_DIR).resolve())


def test_the_shipped_lora_recipes_validate_without_the_network(tmp_path, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("recipe validation tried to reach the network")

    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    smoke = load_recipe(REPO / "recipes/smoke/stage1_lora.yaml", ["model.name_or_path=tiny"])
    assert smoke.peft is not None and smoke.peft.target_modules is not None
    assert {"q_proj", "down_proj"} <= set(smoke.peft.target_modules)

    data = tmp_path / "stage1.jsonl"
    data.write_text('{"problem": "1+1?", "answer": "2", "tests": null, "format_instruction": "Box it."}\n')
    monkeypatch.setenv("RLTRAIN_STAGE1_DATA", str(data))
    monkeypatch.setenv("RLTRAIN_SANDBOX_URL", "http://sandbox-node:8600")
    qwq = load_recipe(REPO / "recipes/qwq/stage1_7b_lora.yaml", ["data.eval_size=0"])
    full = load_recipe(REPO / "recipes/qwq/stage1_7b.yaml", ["data.eval_size=0"])
    assert qwq.peft is not None and qwq.distributed.num_processes == full.distributed.num_processes == 8
    assert qwq.trl_options()["learning_rate"] == pytest.approx(10 * full.trl_options()["learning_rate"])
    same = ("num_generations", "per_device_train_batch_size", "gradient_accumulation_steps", "max_completion_length", "loss_type")
    assert all(qwq.trl_options()[k] == full.trl_options()[k] for k in same)


# --- The config TRL gets ---

def test_defaults_adapt_attention_and_mlp_and_train_the_reward_head_fully(tmp_path):
    recipe = recipe_from_dict(sft_raw(tmp_path))
    config = lora_config(recipe, "qwen2")
    assert set(config.target_modules) == set(DEFAULT_TARGET_MODULES["qwen2"])
    assert config.r == 4 and config.lora_alpha == 8.0 and config.lora_dropout == 0.05 and not config.modules_to_save
    assert lora_config(recipe, "some_new_architecture").target_modules == "all-linear"

    raw = {**sft_raw(tmp_path, use_dora=True, use_rslora=True, alpha=2), "stage": "reward",
           "data": {"source": "synthetic:preferences", "synthetic": {"size": 16}}}
    reward = recipe_from_dict(raw)
    catalogue = module_catalogue(reward)
    assert catalogue is not None and catalogue.model_type == "qwen2" and "score" in catalogue.names()
    config = lora_config(reward, catalogue.model_type)
    assert config.modules_to_save == ["score"] and config.task_type == "SEQ_CLS"
    assert config.use_dora and config.use_rslora and config.lora_alpha == 2


@pytest.mark.parametrize("model_type", sorted(DEFAULT_TARGET_MODULES))
def test_each_default_names_linear_layers_of_its_architecture(model_type):
    from transformers import AutoConfig, AutoModelForCausalLM

    from rltrain.models.adapters import ModuleCatalogue, module_names_of

    config = AutoConfig.for_model(model_type)
    for depth in ("num_hidden_layers", "n_layer"):
        if hasattr(config, depth):
            setattr(config, depth, 1)
    with torch.device("meta"):
        catalogue: ModuleCatalogue = module_names_of(AutoModelForCausalLM.from_config(config))
    leaves = catalogue.leaf_names(adaptable_only=True)
    assert [t for t in DEFAULT_TARGET_MODULES[model_type] if t not in leaves] == []


def test_grpo_reference_is_the_base_with_adapters_disabled_and_no_copy(tmp_path):
    from trl.trainer.utils import use_adapter

    from rltrain.run.trainer import build_trainer

    trainer = build_trainer(recipe_from_dict(grpo_raw(tmp_path / "run", beta=0.1)), [])
    model = trainer.model
    assert trainer.ref_model is None and list(model.peft_config) == ["default"]  # no "ref" adapter either
    base = tiny_base()
    counts = parameter_counts(model)
    assert counts.total == parameter_counts(base).total + counts.trainable  # only the adapters were added
    assert counts.trainable == sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)

    with torch.no_grad():  # a trained adapter: B no longer zero
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5, generator=torch.Generator().manual_seed(1))
    model.eval()
    with use_adapter(model, adapter_name=None):  # what GRPOTrainer does for the reference log-probs
        torch.testing.assert_close(logits(model), logits(base), rtol=0, atol=1e-6)
    assert (logits(model) - logits(base)).abs().max() > 1e-3


# --- Training: final/ and checkpoints ---

@pytest.mark.slow
def test_sft_with_adapters_writes_merged_final_weights_and_adapter_only_checkpoints(tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from rltrain.run.trainer import train_process

    out = tmp_path / "run"
    result = train_process(recipe_from_dict(sft_raw(out)))
    final = Path(result.final_dir)
    assert not (final / "adapter_config.json").exists()  # plain Hugging Face weights ...
    assert (final / ADAPTER_DIR / "adapter_config.json").is_file()  # ... and the adapter beside them

    merged = AutoModelForCausalLM.from_pretrained(final).eval()
    with_adapter = PeftModel.from_pretrained(tiny_base(), final / ADAPTER_DIR).eval()
    for seed in range(3):
        torch.testing.assert_close(logits(merged, seed), logits(with_adapter, seed), rtol=0, atol=1e-5)
    assert (logits(merged) - logits(tiny_base())).abs().max() > 1e-4  # it did train

    checkpoint = out / "checkpoint-4"
    names = {p.name for p in checkpoint.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "optimizer.pt"} <= names
    assert not {"model.safetensors", "pytorch_model.bin"} & names
    adapter = load_file(checkpoint / "adapter_model.safetensors")
    assert adapter and all("lora_" in key for key in adapter)
    optimizer = torch.load(checkpoint / "optimizer.pt", weights_only=False)
    state_numel = sum(t.numel() for s in optimizer["state"].values() for t in s.values() if t.dim() > 0)
    assert state_numel == 2 * sum(t.numel() for t in adapter.values())  # Adam's two moments, adapters only


@pytest.mark.slow
def test_reward_stage_with_adapters_trains_the_score_head_and_merges(tmp_path):
    from transformers import AutoModelForSequenceClassification

    from rltrain.models.tiny import build_reward_model, build_tokenizer
    from rltrain.run.trainer import train_process

    raw = {**sft_raw(tmp_path / "run"), "stage": "reward", "sft": {},
           "data": {"source": "synthetic:preferences", "synthetic": {"size": 32}, "eval_size": 0},
           "rm": {"max_steps": 3, "per_device_train_batch_size": 4, "learning_rate": 1e-2, "logging_steps": 1}}
    result = train_process(recipe_from_dict(raw))
    merged = AutoModelForSequenceClassification.from_pretrained(result.final_dir)
    tokenizer = build_tokenizer()
    untrained = build_reward_model(TinyModelConfig(**TINY), len(tokenizer), tokenizer.pad_token_id)
    assert not torch.equal(merged.score.weight, untrained.score.weight)  # trained in full (modules_to_save)
    assert torch.equal(merged.model.embed_tokens.weight, untrained.model.embed_tokens.weight)  # frozen


@pytest.mark.slow
def test_a_stage_starts_from_base_plus_adapter_and_trains_fully(tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from rltrain.run.stage import run_stage

    first = run_stage(recipe_from_dict(sft_raw(tmp_path / "lora", target_modules=["q_proj", "v_proj"])))
    adapter = Path(first["final_dir"]) / ADAPTER_DIR
    raw = sft_raw(tmp_path / "full")
    del raw["peft"]
    raw["model"]["adapter"] = str(adapter)
    raw["sft"]["max_steps"] = 1
    raw["sft"]["learning_rate"] = 1e-9  # barely moves: the start is what is compared
    second = run_stage(recipe_from_dict(raw))
    start = PeftModel.from_pretrained(tiny_base(), adapter).eval()
    trained = AutoModelForCausalLM.from_pretrained(second["final_dir"]).eval()
    torch.testing.assert_close(logits(trained), logits(start), rtol=0, atol=1e-4)
    assert not (Path(second["final_dir"]) / ADAPTER_DIR).exists()  # a full fine-tune writes no adapter


def test_vllm_receives_the_merged_weights_under_their_plain_names(tmp_path):
    """TRL's weight push to vLLM (``VLLMGeneration.sync_weights``, colocated; the server mode walks the same
    parameters) on the trainer rltrain builds for a LoRA recipe: every tensor vLLM loads has the plain model's
    name and equals base + adapter merged; no adapter tensor is sent; the trainer's model is unmerged after.
    vLLM itself is replaced by a recorder of ``load_weights`` (it does not run on CPU)."""
    import copy

    from accelerate import Accelerator
    from trl.distributed import DistributedBackend
    from trl.generation.vllm_generation import VLLMGeneration

    from rltrain.run.trainer import build_trainer

    model = build_trainer(recipe_from_dict(grpo_raw(tmp_path / "run")), []).model
    with torch.no_grad():  # a trained adapter: B no longer zero
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5, generator=torch.Generator().manual_seed(2))
    model.eval()
    before = logits(model)
    merged = copy.deepcopy(model).merge_and_unload()
    expected = dict(merged.named_parameters())

    received: dict[str, torch.Tensor] = {}

    class Recorder:  # llm.llm_engine.model_executor.driver_worker.model_runner.model.load_weights
        def load_weights(self, weights):
            for name, tensor in weights:
                assert name not in received, f"{name} sent twice"
                received[name] = tensor.detach().clone()

    class StandInLLM:
        def __init__(self) -> None:
            runner = type("Runner", (), {"model": Recorder()})()
            worker = type("Worker", (), {"model_runner": runner})()
            executor = type("Executor", (), {"driver_worker": worker})()
            self.llm_engine = type("Engine", (), {"model_executor": executor})()
            self.resets = 0

        def reset_prefix_cache(self) -> None:
            self.resets += 1

    generation = VLLMGeneration.__new__(VLLMGeneration)  # the weight push only; no engine is started
    accelerator = Accelerator(cpu=True)
    generation.model, generation.accelerator, generation._dist = model, accelerator, DistributedBackend(accelerator)
    generation.mode, generation.enable_sleep_mode, generation.llm = "colocate", False, StandInLLM()
    generation.sync_weights()

    assert sorted(received) == sorted(expected)
    assert not any("lora_" in name or "base_layer" in name for name in received)
    for name, tensor in expected.items():
        torch.testing.assert_close(received[name], tensor.detach(), rtol=0, atol=1e-6, msg=name)
    adapted = [n for n in expected if any(f".{t}." in f".{n}" for t in ("q_proj", "down_proj"))]
    assert adapted and any((received[n] - tiny_base().state_dict()[n]).abs().max() > 1e-3 for n in adapted)
    assert generation.llm.resets == 1
    torch.testing.assert_close(logits(model), before, rtol=0, atol=1e-6)  # unmerged again, adapter still live
