"""Indonesian complaint text: normalisation (slang, affixes, typos), phrase matching, and masking of
contact details typed into text."""

from aduan_text.analyzer import Analyzer
from aduan_text.phrases import PhraseIndex, analyzer_for, taxonomy_vocabulary
from aduan_text.pii import mask_contacts

__all__ = ["Analyzer", "PhraseIndex", "analyzer_for", "mask_contacts", "taxonomy_vocabulary"]
