"""Who may use the server and what it accepts: the access token, the Host check, the upload
limits, and the sniffing of uploaded bytes by their content (never by name or declared type).

No framework code here: the routes (:mod:`edge_runtime.apps.serve.app`) apply these rules.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from edge_runtime.media.decoded import ImageDecodeError
from edge_runtime.media.formats import NotAnImageError, image_format
from edge_runtime.media.headers import header_size

TOKEN_COOKIE = "fashion_serve_token"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


class UploadRefused(ValueError):
    """An upload (or one file of it) that the server will not classify; ``status`` is the HTTP
    status to answer with (4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class UploadLimits:
    """Caps on one ``POST /api/classify``: the request body in bytes, the number of files, and
    the pixels of each image (read from its header before decoding where the format allows)."""

    max_bytes: int = 20 * 1024 * 1024
    max_files: int = 16
    max_pixels: int = 24_000_000

    def __post_init__(self) -> None:
        if min(self.max_bytes, self.max_files, self.max_pixels) < 1:
            raise ValueError(f"upload limits {self}: each must be >= 1")


def is_loopback(host: str) -> bool:
    """True when ``host`` (a name or an address to listen on) reaches this machine only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another name: it may resolve to any interface


def resolve_token(host: str, token: str | None) -> tuple[str | None, bool]:
    """The token the server requires (None: none) and whether it was generated here. A given
    token is always required; on an address other than loopback one is generated when none is
    given, as notebook servers do."""
    if token is not None:
        if not token.strip():
            raise ValueError("--token is empty")
        return token, False
    if is_loopback(host):
        return None, False
    return secrets.token_urlsafe(24), True


def token_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison, so the time taken tells nothing about the token."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def host_is_loopback_name(host_header: str | None) -> bool:
    """True when a request's Host header names this machine by a loopback name or address.
    Without a token the server answers only such requests: a web page elsewhere that points
    its own domain name at 127.0.0.1 (DNS rebinding) then cannot talk to it."""
    if not host_header:
        return False
    if host_header.startswith("["):  # [::1]:8080
        return is_loopback(host_header[1:].partition("]")[0])
    return is_loopback(host_header.partition(":")[0])


def sniff(data: bytes, name: str) -> str:
    """The image format of uploaded bytes, judged by their content as ``fashion-classify``
    judges a file's (:mod:`edge_runtime.media.formats`); UploadRefused (400 empty, 415 not an
    image) otherwise."""
    try:
        return image_format(data, name).name
    except NotAnImageError as exc:
        if not data:
            raise UploadRefused(400, f"{name}: empty file") from None
        raise UploadRefused(415, f"{exc} (whatever its name says)") from None
    except ImageDecodeError as exc:  # empty, under an image's name
        raise UploadRefused(400, str(exc)) from None


def check_pixels(data: bytes, name: str, max_pixels: int) -> None:
    """Refuse (413) an image whose header claims more than ``max_pixels`` pixels, before any
    decoding. Formats whose header is not parsed here (TIFF, PNM, AVIF, HEIF, some WebP) are
    held to the decoder's own limit (:data:`edge_runtime.media.opencv.MAX_PIXELS`)."""
    size = header_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise UploadRefused(413, f"{name}: header claims {size[0]}x{size[1]} = "
                                 f"{size[0] * size[1]:,} pixels, above this server's "
                                 f"{max_pixels:,}-pixel limit (--max-pixels)")
