"""Maintenance and backup windows as AWS writes them, and the checks AWS applies to a pair of
them (the daily window must stay out of the weekly one), shared by DocumentDB and ElastiCache."""

from __future__ import annotations

import re

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = 24 * 60
_WEEK = 7 * _DAY
_DAILY = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")
_WEEKLY = re.compile(r"^([a-z]{3}):(\d\d):(\d\d)-([a-z]{3}):(\d\d):(\d\d)$")


def _minute(hours: str, minutes: str, key: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise ValueError(f"{key}={text!r}: {hours}:{minutes} is not a time of day (UTC hh:mm)")
    return h * 60 + m


def daily_window(text: str, key: str) -> tuple[int, int]:
    """``"02:00-03:00"`` -> (start minute of the day, duration in minutes); may cross midnight."""
    match = _DAILY.match(text)
    if not match:
        raise ValueError(f"{key}={text!r}: expected a daily UTC window like 02:00-03:00")
    start = _minute(match[1], match[2], key, text)
    end = _minute(match[3], match[4], key, text)
    return start, (end - start) % _DAY


def weekly_window(text: str, key: str) -> tuple[int, int]:
    """``"sun:04:00-sun:05:00"`` -> (start minute of the week, duration); may cross Sunday night."""
    match = _WEEKLY.match(text)
    if not match or match[1] not in DAYS or match[4] not in DAYS:
        raise ValueError(f"{key}={text!r}: expected a weekly UTC window like sun:04:00-sun:05:00")
    start = DAYS.index(match[1]) * _DAY + _minute(match[2], match[3], key, text)
    end = DAYS.index(match[4]) * _DAY + _minute(match[5], match[6], key, text)
    return start, (end - start) % _WEEK


def _circular_overlap(a: tuple[int, int], b: tuple[int, int], period: int) -> bool:
    return (a[0] - b[0]) % period < b[1] or (b[0] - a[0]) % period < a[1]


def check_windows(daily_key: str, daily: str, weekly_key: str, weekly: str, *, minimum_minutes: int) -> None:
    """AWS rejects a daily backup/snapshot window that overlaps the weekly maintenance window,
    and windows shorter than the service's minimum; fail before any resource exists."""
    day = daily_window(daily, daily_key)
    week = weekly_window(weekly, weekly_key)
    for key, text, (_, length) in ((daily_key, daily, day), (weekly_key, weekly, week)):
        if length < minimum_minutes:
            raise ValueError(f"{key}={text!r}: the window must last at least {minimum_minutes} minutes")
    if any(_circular_overlap((d * _DAY + day[0], day[1]), week, _WEEK) for d in range(7)):
        raise ValueError(
            f"{daily_key}={daily!r} overlaps {weekly_key}={weekly!r}: AWS needs them apart; "
            f"move one of the two"
        )
