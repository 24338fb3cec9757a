"""Every registered rftgym env keeps the Gymnasium contract, checked by Gymnasium's own checker."""

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import rftgym.envs
from rftgym.envs import ChatEnv, MessageListSpace, MessageSpace


def test_math_env_is_registered_with_its_description():
    envs = rftgym.envs.registered_envs()
    assert envs["rftgym/MathTools-v0"] == "Multi-step arithmetic word problems with a calculator tool."


def test_make_works():
    env = gymnasium.make("rftgym/MathTools-v0", max_turns=3)
    messages, info = env.reset(seed=0)
    assert isinstance(env.unwrapped, ChatEnv) and env.unwrapped.max_turns == 3
    assert messages in env.observation_space and info["tools"]
    env.close()


@pytest.mark.parametrize("env_id", sorted(rftgym.envs.registered_envs()))
def test_gymnasium_env_checker(env_id):
    env = gymnasium.make(env_id)
    check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", sorted(rftgym.envs.registered_envs()))
def test_random_actions_stay_in_the_spaces(env_id):
    env = gymnasium.make(env_id).unwrapped
    assert isinstance(env.action_space, MessageSpace) and isinstance(env.observation_space, MessageListSpace)
    env.action_space.seed(0)
    for episode in range(3):
        obs, _ = env.reset(seed=episode)
        done = False
        while not done:
            action = env.action_space.sample()
            assert action in env.action_space
            obs, reward, terminated, truncated, info = env.step(action)
            assert obs in env.observation_space and isinstance(reward, float)
            assert not (terminated and truncated)
            done = terminated or truncated
        assert info["termination_reason"] and "outcome_components" in info
    env.close()
