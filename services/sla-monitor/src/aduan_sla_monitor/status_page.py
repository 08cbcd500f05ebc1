"""The citizen's status page of one report, in Bahasa Indonesia: plain HTML, no JavaScript.

Pure: ``page(case, now, tz)`` renders a ``PublicCase`` (already free of personal data, see
``public_case``); every value is escaped here, links are the http(s) ones ``public_case`` allowed.
Times are shown in the city's time zone with its abbreviation (WIB for Jakarta).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from html import escape

from aduan_sla_monitor.public_case import Deadline, HistoryEntry, PublicCase

MONTHS = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
# Sent with every page: nothing may run, load or be framed; only our inline style and https images.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src https:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_STYLE = (
    "body{font-family:sans-serif;max-width:44rem;margin:1rem auto;padding:0 1rem;line-height:1.5;color:#222}"
    "table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .5rem;"
    "border-bottom:1px solid #ddd;vertical-align:top}.late{color:#b00020;font-weight:bold}"
    ".ok{color:#1b5e20}.status{font-size:1.3rem;font-weight:bold}"
)


def page(case: PublicCase, now: datetime, tz: tzinfo) -> str:
    rows = [
        ("Nomor laporan", _e(case.report_id)),
        ("Status", f'<span class="status">{_e(case.label)}</span>'),
        ("Kategori", _e(case.service_name or "-")),
        ("Unit penanggung jawab", _e(case.unit_name or "Belum ditentukan")),
        ("Lokasi", _e(case.address or "-")),
        ("Dilaporkan", _e(when(case.requested, tz))),
        ("Batas waktu tanggapan", _deadline(case.respond, now, tz, "ditanggapi")),
        ("Batas waktu penyelesaian", _deadline(case.resolve, now, tz, "diselesaikan")),
    ]
    if case.note:
        rows.append(("Catatan terakhir", _e(case.note)))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    parts = [
        f"<h1>Status laporan</h1><table>{table}</table>",
        f"<h2>Isi laporan</h2><p>{_e(case.description) or '-'}</p>",
        _links("Foto laporan", case.media),
        "<h2>Riwayat</h2>" + _history(case.history, tz),
        "<p><small>Data pribadi pelapor dan petugas tidak ditampilkan; nomor telepon, alamat email dan "
        "akun media sosial dalam teks disamarkan.</small></p>",
    ]
    return _document(f"Laporan {case.report_id}", "".join(p for p in parts if p))


def not_found(report_id: str) -> str:
    body = (
        "<h1>Laporan tidak ditemukan</h1>"
        f"<p>Tidak ada laporan dengan nomor <strong>{_e(report_id)}</strong>. Periksa kembali nomor laporan "
        "Anda; laporan yang baru dikirim bisa memerlukan beberapa saat sebelum tampil.</p>"
    )
    return _document("Laporan tidak ditemukan", body)


def when(value: datetime | None, tz: tzinfo) -> str:
    """``22 November 2026 15.15 WIB`` (Indonesian date, 24-hour clock with a dot)."""
    if value is None:
        return "-"
    local = value.astimezone(tz)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year} {local:%H.%M} {local.tzname() or ''}".strip()


def _deadline(d: Deadline, now: datetime, tz: tzinfo, verb: str) -> str:
    if d.due is None:
        return "-"
    due = _e(when(d.due, tz))
    if d.met_at is not None:
        state = f"{verb} {_e(when(d.met_at, tz))}"
        mark = '<span class="late">terlambat</span>' if d.late else '<span class="ok">tepat waktu</span>'
        return f"{due}<br>{state}, {mark}"
    if d.late:
        return f'{due}<br><span class="late">terlambat: belum {verb}</span>'
    return f"{due}<br>belum {verb}, masih dalam batas waktu"


def _history(entries: tuple[HistoryEntry, ...], tz: tzinfo) -> str:
    if not entries:
        return "<p>Belum ada tanggapan dari unit.</p>"
    rows = []
    for h in entries:
        # A reassignment names the unit it went to ("Dialihkan ke Dinas ..."), never who decided it.
        what = f"Dialihkan ke {_e(h.unit)}" if h.unit else _e(h.label)
        if h.note:
            what += f"<br>{_e(h.note)}"
        if h.evidence:
            what += "<br>" + " ".join(
                f'<a href="{_e(url)}" rel="noopener noreferrer nofollow">Bukti {i}</a>'
                for i, url in enumerate(h.evidence, 1)
            )
        rows.append(f"<tr><td>{_e(when(h.at, tz))}</td><td>{what}</td></tr>")
    return f"<table><tr><th>Waktu</th><th>Perubahan</th></tr>{''.join(rows)}</table>"


def _links(title: str, urls: tuple[str, ...]) -> str:
    if not urls:
        return ""
    items = "".join(
        f'<li><a href="{_e(u)}" rel="noopener noreferrer nofollow">Foto {i}</a></li>'
        for i, u in enumerate(urls, 1)
    )
    return f"<h2>{title}</h2><ul>{items}</ul>"


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="id"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _e(text: str) -> str:
    return escape(text, quote=True)
