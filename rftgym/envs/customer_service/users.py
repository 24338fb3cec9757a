"""Simulated customers: the other side of a customer-service conversation.

A customer knows its task's hidden instructions, its persona and how to identify itself, never the
database. It hears only what the agent says in turns without tool calls (not the tool calls, their
results, or text sent along with them) and answers each such turn with one message; a message
containing :data:`STOP` ends the episode (the customer is satisfied, or gives up).

* :class:`ScriptedCustomer` (the default) needs no model: it confirms what the agent proposes,
  identifies itself when asked, restates its request when asked anything else, and leaves once the
  agent stops asking questions. A reply that communicates nothing (empty, gibberish: see
  :func:`communicates`) is not the end of the conversation: the customer asks again, and after a
  second such reply in a row it leaves unsatisfied. Deterministic, so episodes run and test offline.
* :class:`LLMCustomer` is a model behind any OpenAI-compatible endpoint, prompted with the hidden
  instructions. Its failures (endpoint errors, empty answers, breaking role) raise
  :class:`UserSimulatorError`, which the rollout loop records as the episode's error instead of
  charging the agent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol

from rftgym.types import Task

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

#: The marker a customer's message carries when the conversation is over.
STOP = "###STOP###"

_ANYTHING_ELSE = re.compile(r"anything else|something else|any other (question|request)|help with today\?$", re.I)
_CONFIRM = re.compile(
    r"\b(confirm|proceed|go ahead|shall i|should i|would you like me to|do you want me to|"
    r"yes or no|yes/no)\b",
    re.I,
)
_IDENTITY = re.compile(r"\b(e-?mail|zip|postal|user ?id|full name|your name|identify|verify|authenticat)", re.I)
_AFFIRMATIVE = re.compile(r"\b(yes|yeah|yep|confirm(ed)?|go ahead|proceed|please do|sure|correct)\b", re.I)
_NEGATIVE = re.compile(r"\b(no|not|don'?t|do not|never|cancel that)\b", re.I)

# What the scripted customer says, by persona: confirm, identify (a format string), restate, leave.
_PHRASES = {
    "polite": (
        "Yes, please go ahead.",
        "Of course. {identity}",
        "Sorry if I was unclear. {request}",
        "That's everything, thank you for your help! " + STOP,
    ),
    "terse": ("yes", "{identity}", "{request}", "ok thanks " + STOP),
    "chatty": (
        "Yes, absolutely, go ahead with that!",
        "Sure thing! {identity}",
        "Oh, let me say it again: {request}",
        "Wonderful, you've been a great help. Bye now! " + STOP,
    ),
}
#: The personas a task can give its customer.
PERSONAS = tuple(_PHRASES)
#: Questions the scripted customer answers by restating its request before it gives up.
MAX_RESTATEMENTS = 2
#: What the scripted customer says to a reply that communicates nothing: first, asking again (a
#: format string), then, leaving unsatisfied.
ASK_AGAIN = "Sorry, I didn't understand that. {request}"
GIVE_UP = "I can't get a clear answer, so I'll try another time. " + STOP

# A word: two or more letters; an ASCII one needs a vowel (or y), so "xkcd qwrt" says nothing.
_WORD = re.compile(r"[^\W\d_]{2,}")
_VOWEL = re.compile(r"[aeiouy]", re.I)


def communicates(text: str) -> bool:
    """Whether an agent's reply says anything at all: at least one word (two or more letters,
    with a vowel when ASCII). Empty text, punctuation, numbers alone, replacement characters and
    consonant strings do not. A cheap heuristic, not a language model: it only tells a reply
    from noise."""
    return any(not word.isascii() or _VOWEL.search(word) for word in _WORD.findall(text))


class UserSimulatorError(RuntimeError):
    """The simulated customer failed (endpoint error, no answer, broke role): not the agent's fault."""


class Customer(Protocol):
    """One episode's simulated customer."""

    def reply(self, agent_text: str) -> str:
        """The customer's answer to what the agent just said (may contain :data:`STOP`)."""
        ...


def is_affirmative(text: str) -> bool:
    """Whether a customer's message explicitly agrees (``yes``, ``go ahead``...) and refuses nothing."""
    return bool(_AFFIRMATIVE.search(text)) and not _NEGATIVE.search(text)


class ScriptedCustomer:
    """A rule-based customer (see the module docstring); its phrasing follows the task's persona."""

    def __init__(self, task: Task):
        """Args:
        task: The episode's task: ``prompt`` (the request), ``metadata["identity"]`` (what it
            says to identify itself) and ``metadata["persona"]`` (one of :data:`PERSONAS`).
        """
        self.confirm, identify, restate, self.leave = _PHRASES[task.metadata.get("persona", "polite")]
        self.identify = identify.format(identity=task.metadata["identity"])
        self.restate = restate.format(request=task.prompt)
        self.ask_again = ASK_AGAIN.format(request=task.prompt)
        self.restated = 0
        self.unclear = 0  # replies in a row that communicated nothing
        self.identified = False
        self.satisfied: bool | None = None  # set when it leaves

    def reply(self, agent_text: str) -> str:
        if not communicates(agent_text):
            self.unclear += 1
            if self.unclear == 1:
                return self.ask_again
            self.satisfied = False
            return GIVE_UP
        self.unclear = 0
        answer = self._answer(agent_text)
        if answer == self.leave:
            self.satisfied = True
        return answer

    def _answer(self, agent_text: str) -> str:
        """The answer to a reply that communicates something."""
        if _ANYTHING_ELSE.search(agent_text):
            return self.leave
        # Until it has identified itself, any mention of its identity is a request for it
        # ("please confirm your email"); later, a question with such words more likely proposes
        # an action that mentions them ("ship to zip 97214: shall I proceed?").
        if not self.identified and _IDENTITY.search(agent_text):
            self.identified = True
            return self.identify
        if _CONFIRM.search(agent_text):
            return self.confirm
        if "?" in agent_text and _IDENTITY.search(agent_text):
            return self.identify
        if "?" in agent_text and self.restated < MAX_RESTATEMENTS:
            self.restated += 1
            return self.restate
        return self.leave


class LLMCustomer:
    """A customer played by a chat model behind an OpenAI-compatible endpoint.

    The model gets a system prompt with the hidden instructions; the agent's messages are its
    ``user`` turns and its own messages (the task's opening request first) its ``assistant`` turns.
    """

    def __init__(self, client: openai.OpenAI, model: str, task: Task, company: str, temperature: float = 0.0):
        """Args:
        client: An ``openai.OpenAI`` client (shared by the env's episodes).
        model: The model name to request.
        task: The episode's task: ``prompt`` and ``metadata["instructions"]``, ``["persona"]``.
        company: Whose customer it is, for the prompt ("an online store").
        temperature: Sampling temperature of the customer's replies.
        """
        self.client, self.model, self.temperature = client, model, temperature
        system = (
            f"You are a customer talking to a customer-service agent of {company}. Stay in that role: "
            f"you are the customer, never the agent. Your persona: {task.metadata.get('persona', 'polite')}.\n\n"
            f"Your situation and goal (do not reveal it all at once; answer what the agent asks):\n"
            f"{task.metadata['instructions']}\n\n"
            f"Never invent details you were not given. When the agent proposes exactly what you want, "
            f"confirm it with 'yes'. When your request is resolved, or the agent cannot help you any "
            f"further, end your message with {STOP}."
        )
        self.history: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "assistant", "content": task.prompt},
        ]

    def reply(self, agent_text: str) -> str:
        self.history.append({"role": "user", "content": agent_text})
        try:
            response = self.client.chat.completions.create(
                model=self.model, messages=self.history, temperature=self.temperature
            )
        except Exception as e:  # any endpoint failure is the simulator's, not the agent's
            raise UserSimulatorError(f"customer endpoint failed: {type(e).__name__}: {e}") from None
        choice = response.choices[0].message if response.choices else None
        text = (choice.content or "").strip() if choice is not None else ""
        if choice is not None and choice.tool_calls:
            raise UserSimulatorError("the customer broke role: it answered with tool calls")
        if not text:
            raise UserSimulatorError("the customer model returned no text")
        if re.search(r"\bas an ai\b|how (can|may) i (help|assist) you", text, re.I):
            raise UserSimulatorError(f"the customer broke role: {text[:100]!r}")
        self.history.append({"role": "assistant", "content": text})
        return text
