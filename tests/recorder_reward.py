"""A test-only reward that records which prompts each step saw, and can request a stop.

Registered under the name ``test_recorder``. It writes one JSON line per call to the file named by
the ``RLTRAIN_TEST_RECORD`` environment variable; when ``RLTRAIN_TEST_STOP_AT`` equals the current
global step, it sends SIGTERM to its own process, as a cluster scheduler would.
"""

import json
import os
import signal

from verifiers import register_reward


@register_reward("test_recorder", description="records prompts per step (tests only)")
def build_recorder():
    def test_recorder(prompts, completions, trainer_state=None, **kwargs):
        step = trainer_state.global_step if trainer_state is not None else -1
        with open(os.environ["RLTRAIN_TEST_RECORD"], "a") as f:
            f.write(json.dumps({"step": step, "prompts": [p[-1]["content"] for p in prompts]}) + "\n")
        if os.environ.get("RLTRAIN_TEST_STOP_AT") == str(step):
            os.kill(os.getpid(), signal.SIGTERM)
        # a reward with spread, so the policy really updates: longer completions score higher
        return [min(len(c[0]["content"]) / 32.0, 1.0) for c in completions]

    return test_recorder
