"""Our table of the limits a lesson pack must respect, and of the file-safety caps.

Everything the bot sends has to fit both Slack and Telegram, so validation rejects
content that would not fit instead of truncating it. Each platform number names
its row in `shared/specs/platform-limits.md` (S = Slack, T = Telegram); the other
numbers are our own editorial choices.
"""

from __future__ import annotations

import re

# Platform facts (each is the smaller of the two platforms where both apply).
SLACK_SECTION_TEXT = 3000  # S14: section block text
SLACK_HEADER_TEXT = 150  # S17: header block text
SLACK_BUTTON_TEXT = 75  # S16: a button's label
SLACK_ACTION_ID = 255  # S16: a button's action_id
SLACK_MESSAGE_BLOCKS = 50  # S13: blocks per message
TELEGRAM_MESSAGE_TEXT = 4096  # T8: sendMessage text
TELEGRAM_CALLBACK_DATA_BYTES = 64  # T9: inline button callback_data
TELEGRAM_CALLBACK_ANSWER = 200  # T10: answerCallbackQuery text
TELEGRAM_POLL_QUESTION = 300  # T11: sendPoll question
TELEGRAM_POLL_OPTION = 100  # T12: one poll option's text
TELEGRAM_POLL_OPTIONS = 12  # T12: options per poll

# What the bot sends: a whole message fits one Slack section (S14) and so one Telegram
# message (T8); longer generated text (digests, exports, progress) goes in several.
MESSAGE_CHARS = SLACK_SECTION_TEXT
MESSAGE_SECTIONS = SLACK_MESSAGE_BLOCKS - 5  # room for the header, context and buttons

# What a pack may hold, derived from the facts above.
ID_PATTERN = re.compile(r"[a-z0-9_-]{1,40}")  # room for a prefix in T9's 64 bytes
ID_RULE = "1–40 characters of a-z, 0-9, '-' and '_'"
LESSON_TITLE = SLACK_HEADER_TEXT - 12  # room for the icon and a page number: "📘 … (2/3)"
LESSON_WORDS_MIN = 60
LESSON_WORDS_MAX = 150
LESSON_BODY_CHARS = SLACK_SECTION_TEXT - 100  # leaves room for "Lesson 3 of 24" and the like
PROMPT_CHARS = TELEGRAM_POLL_QUESTION
CHOICE_CHARS = TELEGRAM_POLL_OPTION  # longer than SLACK_BUTTON_TEXT: Slack letters the buttons
CHOICES_MIN = 2
CHOICES_MAX = 10  # under T12's 12 options, leaving one button for "Done"
FEEDBACK_CHARS = TELEGRAM_CALLBACK_ANSWER
RESPOND_CHARS = TELEGRAM_CALLBACK_ANSWER  # an answer in place (T10; a Slack ephemeral, S14)
EXPLANATION_CHARS = 600  # feedback + explanation stay far inside one message (S14, T8)
REFLECTION_CHARS = 500
COMMITMENT_TRY_CHARS = 300  # the action, shown at the end of the lesson message
COMMITMENT_FOLLOW_UP_CHARS = 500  # the question asked a few working days later
ACCEPTED_CHARS = 100  # one accepted short answer
UNIT_CHARS = 20
PACK_TITLE = SLACK_HEADER_TEXT
PACK_TEXT_CHARS = 1000  # version, language, audience and description
VERSION_CHARS = 40
TOPIC_NAME_CHARS = 60  # one line of "accuracy by topic"
ORDER_MAX = 1_000_000  # a lesson's sending order; any database integer holds it

# File safety: checked before anything is parsed.
MAX_FILE_BYTES = 1_000_000
MAX_LESSON_FILES = 500
MAX_YAML_NODES = 20_000
MAX_YAML_DEPTH = 20
