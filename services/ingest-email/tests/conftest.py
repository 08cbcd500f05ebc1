"""The real Dovecot IMAP server of the kit's test fixtures (``aduan_kit.testing.dovecot``)."""

from aduan_kit.testing.dovecot import dovecot

__all__ = ["dovecot"]
