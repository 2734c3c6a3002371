"""sequence_logps against a plain per-sequence loop on a tiny Llama, right and left padding."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from vpo_llm.logprobs import sequence_logps  # noqa: E402


def tiny_llama(seed=0):
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=37, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return transformers.LlamaForCausalLM(config).double().eval()


def loop_reference(model, prompts, responses):
    out = []
    for prompt, response in zip(prompts, responses):
        ids = torch.tensor([prompt + response])
        logp = torch.log_softmax(model(input_ids=ids).logits[0], dim=-1)  # (L, V)
        out.append(sum(logp[len(prompt) + i - 1, token] for i, token in enumerate(response)))
    return torch.stack(out)


def pad(prompts, responses, side, pad_id=0):
    length = max(len(p) + len(r) for p, r in zip(prompts, responses))
    ids, attention, response_mask = [], [], []
    for prompt, response in zip(prompts, responses):
        n = len(prompt) + len(response)
        filler = [pad_id] * (length - n)
        body_mask = [0] * len(prompt) + [1] * len(response)
        if side == "right":
            ids.append(prompt + response + filler)
            attention.append([1] * n + [0] * len(filler))
            response_mask.append(body_mask + [0] * len(filler))
        else:
            ids.append(filler + prompt + response)
            attention.append([0] * len(filler) + [1] * n)
            response_mask.append([0] * len(filler) + body_mask)
    return torch.tensor(ids), torch.tensor(attention), torch.tensor(response_mask)


@pytest.mark.parametrize("side", ["right", "left"])
def test_sequence_logps_equals_a_plain_loop(side):
    model = tiny_llama()
    prompts = [[5, 6, 7], [8], [9, 10, 11, 12, 13]]
    responses = [[14, 15], [16, 17, 18, 19], [20]]
    with torch.no_grad():
        expected = loop_reference(model, prompts, responses)
        got = sequence_logps(model, *pad(prompts, responses, side))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_bad_masks_are_refused():
    model = tiny_llama()
    ids, attention, response = pad([[5, 6]], [[7, 8]], "right")
    with pytest.raises(ValueError, match="response_mask"):
        sequence_logps(model, ids, attention, torch.ones_like(response))
    with pytest.raises(ValueError, match="attention_mask"):
        sequence_logps(model, ids, attention[:, :2], response)
