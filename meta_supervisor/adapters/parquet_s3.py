"""Parquet objects on S3-compatible storage, through pyarrow (the only pyarrow import).

Why pyarrow and not DuckDB: DuckDB reaches S3 through its httpfs extension, which the Python wheel
does not carry and DuckDB fetches from the internet at first use; pyarrow's S3 filesystem is in
the wheel, so runs and tests need no network beyond the store (docs/history.md has the measured
comparison). pyarrow is an optional dependency: `pip install meta-supervisor[s3]`.

Credentials and endpoint come from the standard variables only: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN), AWS_REGION (or AWS_DEFAULT_REGION), AWS_ENDPOINT_URL
(for MinIO, Ceph, R2, moto...; unset: AWS). Every call is bounded: connect 10 s, request
META_SUPERVISOR_CALL_DEADLINE_S (60 s), 3 attempts; a failure is one line naming the object and
never the secret key.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from operator import attrgetter
from urllib.parse import urlsplit

from meta_supervisor.adapters.deadline import DEFAULT_CALL_S
from meta_supervisor.adapters.redact import redact, safe_url
from meta_supervisor.core.errors import UserError
from meta_supervisor.core.records import ROW_FIELDS, Row

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyarrow import fs as pafs
except ImportError:  # pragma: no cover - exercised only without the extra installed
    pa = None


def _schema():
    types = {
        "horizon_hours": pa.int64(),
        **{f: pa.float64() for f in ROW_FIELDS if f.endswith("_bps") or f.endswith("_price")},
        "score_final": pa.float64(),
        "confidence": pa.float64(),
    }
    return pa.schema([pa.field(f, types.get(f, pa.string()), nullable=f == "expected_sigma_bps") for f in ROW_FIELDS])


_row_values = attrgetter(*ROW_FIELDS)


class ObjectStore:
    """One bucket and prefix: put and get whole Parquet objects of rows, list and delete keys."""

    def __init__(self, location: str, env: Mapping[str, str] | None = None):
        if pa is None:
            raise UserError(
                f"history.location {location}: the object store needs pyarrow: pip install 'meta-supervisor[s3]'"
            )
        env = os.environ if env is None else env
        parts = urlsplit(location)
        self.bucket, self.prefix = parts.netloc, parts.path.strip("/")
        self.location = location
        endpoint = env.get("AWS_ENDPOINT_URL") or None
        shown = safe_url(endpoint) if endpoint else None
        self.secrets = tuple(s for s in (env.get("AWS_SECRET_ACCESS_KEY"), env.get("AWS_SESSION_TOKEN")) if s)
        self.secrets += shown.secrets if shown else ()
        options = {
            "access_key": env.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env.get("AWS_SECRET_ACCESS_KEY") or None,
            "session_token": env.get("AWS_SESSION_TOKEN") or None,
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            "connect_timeout": 10.0,
            "request_timeout": float(env.get("META_SUPERVISOR_CALL_DEADLINE_S") or DEFAULT_CALL_S),
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3),
        }
        if endpoint:
            url = urlsplit(endpoint)
            options.update(endpoint_override=url.netloc.rsplit("@", 1)[-1] + url.path, scheme=url.scheme or "https")
        self.schema = _schema()
        self._options = options
        try:
            self.fs = pafs.S3FileSystem(**options)
        except (OSError, ValueError, TypeError) as err:
            raise self._error("connecting", err) from None

    def _path(self, key: str) -> str:
        return f"{self.bucket}/{self.prefix}/{key}" if self.prefix else f"{self.bucket}/{key}"

    def _error(self, what: str, err: Exception) -> UserError:
        text = " ".join(str(err).split())[:300]
        return UserError(f"history store {self.location}: {what}: {redact(text, self.secrets)}")

    def put_rows(self, key: str, rows: list[Row]) -> str:
        """Write `rows` as one Parquet object (zstd); returns "sha256:<hex>" of its bytes. An
        object appears whole or not at all (S3 PUT semantics)."""
        columns = list(zip(*map(_row_values, rows))) if rows else [()] * len(ROW_FIELDS)
        table = pa.Table.from_arrays(
            [pa.array(col, type=self.schema.field(i).type) for i, col in enumerate(columns)], schema=self.schema
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue().to_pybytes()
        try:
            with self.fs.open_output_stream(self._path(key)) as out:
                out.write(data)
        except OSError as err:
            raise self._error(f"writing {key}", err) from None
        return f"sha256:{hashlib.sha256(data).hexdigest()}"

    def get_rows(self, key: str, checksum: str | None = None, columns: list[str] | None = None) -> list:
        """The rows of one object (all columns: `Row`s; else tuples of `columns`), refused when its
        bytes are not the committed ones."""
        try:
            with self.fs.open_input_file(self._path(key)) as handle:
                data = handle.readall()
        except OSError as err:
            raise self._error(f"reading {key}", err) from None
        if checksum is not None and f"sha256:{hashlib.sha256(data).hexdigest()}" != checksum:
            raise UserError(
                f"history store {self.location}: {key}: its bytes differ from the ones committed (sha256 in "
                "state/reconcile_state.json): the object was replaced after it was written"
            )
        try:
            table = pq.read_table(pa.BufferReader(data), columns=columns or list(ROW_FIELDS))
        except (pa.ArrowException, OSError) as err:
            raise self._error(f"{key} is not a Parquet file of reconciled rows", err) from None
        values = [table.column(i).to_pylist() for i in range(table.num_columns)]
        if columns:
            return list(zip(*values))
        return [Row(*row) for row in zip(*values)]

    def keys(self) -> list[str]:
        """Every object key under the prefix (relative to it), sorted."""
        base = self._path("").rstrip("/")
        try:
            infos = self.fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        except OSError as err:
            raise self._error("listing", err) from None
        return sorted(i.path[len(base) + 1 :] for i in infos if i.type == pafs.FileType.File)

    def delete(self, key: str) -> None:
        try:
            self.fs.delete_file(self._path(key))
        except FileNotFoundError:
            pass
        except OSError as err:
            raise self._error(f"deleting {key}", err) from None

    def create_bucket(self) -> None:
        """For tests and first installs; a bucket that exists is fine."""
        try:
            pafs.S3FileSystem(**self._options, allow_bucket_creation=True).create_dir(self.bucket)
        except OSError as err:
            raise self._error("creating the bucket", err) from None
