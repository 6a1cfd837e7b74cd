"""Reward models: score (conversation, response) pairs with a sequence-classification model.

* :mod:`.rendering`: the text a reward model reads (chat template, reasoning stripped), shared by every path;
* :mod:`.model`: :class:`RewardModel` in this process (loading, the score-head check, ZeRO-3 sharding);
* :mod:`.server`: ``rltrain rm serve`` — dynamic batching behind ``/score`` and OpenRLHF's ``/get_reward``;
* :mod:`.client`: :class:`RewardModelClient` for such a server; :mod:`.vllm`: :class:`VLLMRewardClient`
  for vLLM's ``/classify`` and ``/pooling``;
* :mod:`.reward`: the ``reward_model`` reward over all of them, registered when this package is imported.

The server module is not imported here (it is what ``rltrain rm serve`` loads): ``from
verifiers.reward_model.server import build_service``.
"""

from verifiers.reward_model.client import RewardModelClient
from verifiers.reward_model.model import RewardModel, load_reward_model, zero3_active
from verifiers.reward_model.rendering import Messages, Pair, plain, render
from verifiers.reward_model.reward import Normalization, build_reward_model, normalize
from verifiers.reward_model.vllm import VLLMRewardClient

__all__ = [
    "Messages",
    "Normalization",
    "Pair",
    "RewardModel",
    "RewardModelClient",
    "VLLMRewardClient",
    "build_reward_model",
    "load_reward_model",
    "normalize",
    "plain",
    "render",
    "zero3_active",
]
