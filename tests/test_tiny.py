"""The built-in tiny model and tokenizer load with the ordinary Hugging Face calls."""

from transformers import AutoModelForCausalLM, AutoTokenizer

from rltrain.models.tiny import write_tiny
from rltrain.recipe import TinyModelConfig


def test_tiny_model_round_trips_through_from_pretrained(tmp_path):
    write_tiny(tmp_path, TinyModelConfig(hidden_size=32, num_hidden_layers=1, intermediate_size=64))
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert model.config.model_type == "qwen2"
    assert model.config.vocab_size == len(tokenizer)

    text = "47+38: 7+8=15</think>\n\\boxed{85} é"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    # think tags are single tokens that survive skip_special_tokens, as in Qwen/QwQ tokenizers
    assert tokenizer.convert_tokens_to_ids("</think>") in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text

    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 1+1?"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")  # QwQ-style prefilled think
    out = model.generate(**tokenizer(prompt, return_tensors="pt"), max_new_tokens=3, do_sample=False)
    assert out.shape[1] > len(tokenizer(prompt)["input_ids"])
