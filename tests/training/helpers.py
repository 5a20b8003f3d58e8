"""Toy data sets for the training tests: three intents in English and Chinese, a tiny FAQ."""
from __future__ import annotations

import csv
from pathlib import Path

TOY_INTENTS = {
    "greeting": ["hello", "hi", "hey", "good morning", "good evening", "hello hi", "hey hello", "你好",
                 "hi hello", "你好 hello", "good morning hi", "hey good evening"],
    "track_order": ["where is my order", "track my parcel", "package delivery status", "订单在哪里",
                    "where is my package", "tracking my order", "my delivery is late", "快递物流",
                    "track order status", "where is my parcel", "我的订单在哪里", "shipping status"],
    "refund": ["refund my money", "money back please", "return and refund", "退款", "i want a refund please",
               "charged twice refund", "refund to my card", "return my money", "我要退款",
               "refund please", "money back", "refund invoice"],
}  # fmt: skip
TOY_OOS = ["weather", "tell me a joke", "football", "天气", "笑话", "weather joke"]

TOY_FAQ = [
    ("f1", "how do i reset my password", "Use the reset link on the login page."),
    ("f2", "where is my order", "Track it from your account page."),
    ("f3", "how do i get a refund", "Refunds go back to the card you paid with."),
    ("f4", "how do i delete my account", "Write to help and we delete it."),
]
TOY_QUERIES = [
    ("password reset please", "f1"), ("reset password", "f1"), ("change password login", "f1"),
    ("i can not login password", "f1"), ("密码重置", "f1"),
    ("track my order", "f2"), ("parcel delivery status", "f2"), ("where is my package", "f2"),
    ("order tracking", "f2"), ("订单在哪里", "f2"),
    ("refund my money", "f3"), ("money back", "f3"), ("return refund", "f3"), ("card refund", "f3"),
    ("退款", "f3"),
    ("delete account", "f4"), ("cancel my account", "f4"), ("delete my email account", "f4"),
    ("remove account please", "f4"), ("取消帐户", "f4"),
]  # fmt: skip


def write_csv(path: Path, header: list[str], rows: list[tuple[str, ...]] | list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_toy_intents(path: Path, with_oos: bool = True) -> Path:
    rows = [(text, label) for label, texts in TOY_INTENTS.items() for text in texts]
    if with_oos:
        rows += [(text, "oos") for text in TOY_OOS]
    return write_csv(path, ["text", "label"], rows)
