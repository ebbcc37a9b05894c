from __future__ import annotations

import pytest

from catalog.runtime.language import detect_language, script_shares

TEXTS = {
    "en": "The quarterly report shows that revenue grew by twelve percent compared with last year.",
    "fr": "Le rapport trimestriel montre que le chiffre d'affaires a augmenté de douze pour cent.",
    "de": "Der Quartalsbericht zeigt, dass der Umsatz im Vergleich zum Vorjahr gestiegen ist.",
    "ru": "Квартальный отчёт показывает, что выручка выросла на двенадцать процентов.",
    "ar": "يظهر التقرير الفصلي أن الإيرادات نمت بنسبة اثني عشر بالمائة مقارنة بالعام الماضي.",
    "zh": "季度报告显示，与去年相比，收入增长了百分之十二。",
}
SCRIPTS = {
    "en": "Latin",
    "fr": "Latin",
    "de": "Latin",
    "ru": "Cyrillic",
    "ar": "Arabic",
    "zh": "Han",
}


@pytest.mark.parametrize("language", list(TEXTS))
def test_language_and_script(language):
    result = detect_language(TEXTS[language])

    assert result["language"] == language
    assert result["script"] == SCRIPTS[language]
    assert 0.9 <= result["confidence"] <= 1.0


def test_detection_is_deterministic():
    text = "Bonjour, merci pour la facture."

    assert {str(detect_language(text)) for _ in range(5)} == {str(detect_language(text))}


def test_short_or_empty_text_has_no_language():
    assert detect_language("Total 93.50") == {
        "language": None,
        "script": "Latin",
        "confidence": 0.0,
    }
    assert detect_language("") == {"language": None, "script": None, "confidence": 0.0}
    assert detect_language("12.03.2024 93.50") == {
        "language": None,
        "script": None,
        "confidence": 0.0,
    }


def test_japanese_is_told_apart_from_chinese_by_its_kana():
    result = detect_language(
        "四半期報告書によると、売上高は前年と比べて十二パーセント増加しました。"
    )

    assert result["language"] == "ja"
    assert result["script"] == "Hiragana/Katakana"


def test_script_shares_count_letters_only():
    shares, letters = script_shares("Invoice Счёт 123 !!")

    assert letters == 11
    assert shares == pytest.approx({"Latin": 7 / 11, "Cyrillic": 4 / 11})


MIXED = [
    "INVOICE No. 42 from ACME GmbH, due 2024-03-01: total EUR 1.234,50 (VAT 19%).",
    "Tiếng Việt có dấu: hóa đơn số 7, tổng cộng 500.000 đồng — cảm ơn!",
    "Şirket faturası: ödeme ţ ș ț; « guillemets » — and URLs http://example.com mail@x.io",
    "カタカナとひらがな、漢字も。한국어 문장도 있습니다. ㄅㄆㄇ",
    *TEXTS.values(),
]


@pytest.mark.parametrize("text", MIXED)
def test_ngram_counts_are_langdetects_own(text):
    """The one-pass counting sees exactly the n-grams langdetect's detector extracts."""
    from collections import Counter

    from catalog.runtime.language import _get_factory, ngrams

    factory = _get_factory()
    detector = factory.create()
    detector.append(text)
    detector.cleaning_text()

    assert ngrams(detector.text, factory.word_lang_prob_map) == Counter(detector._extract_ngrams())


def test_script_shares_of_plain_ascii_and_of_other_scripts():
    assert script_shares("Total: 12.50 EUR") == ({"Latin": 1.0}, 8)
    assert script_shares("12.50 / 3") == ({}, 0)
    shares, letters = script_shares("Итого total")
    assert letters == 10
    assert shares == {"Cyrillic": 0.5, "Latin": 0.5}
