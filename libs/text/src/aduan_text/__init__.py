"""Indonesian complaint text: normalisation (slang, affixes, typos) and phrase matching."""

from aduan_text.analyzer import Analyzer
from aduan_text.phrases import PhraseIndex, analyzer_for, taxonomy_vocabulary

__all__ = ["Analyzer", "PhraseIndex", "analyzer_for", "taxonomy_vocabulary"]
