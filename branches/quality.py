"""Integrity signals (台账质量提示): what the nightly job looks for in one year's meeting records.

Each finding is a prompt to open the records behind it, never a score: a branch may log late for a good reason,
and two short minutes of a routine meeting may well read alike. So every threshold below asks for a habit (several
records, a large share of the year's), not for one occurrence, and each finding carries its meetings.

- late logging and year-end cramming: counted in SQL, one grouped query each over the year's meetings;
- identical attendance lists: each meeting's (member, present) list, read in meeting order, compared in Python;
- nearly identical minutes: MinHash signatures of the minutes' character shingles, banded (LSH) so that only
  meetings sharing a band are compared, then the exact Jaccard similarity of those candidates' shingles. All the
  year's minutes of the tree are compared, within a branch and across branches.
"""

import array
import functools
import hashlib
import itertools
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, DateField, ExpressionWrapper, F, Q
from django.db.models.functions import Length, TruncDate
from django.utils import timezone

from branches.models import (
    Attendance,
    ComplianceSetting,
    IntegritySignal,
    IntegritySignalKind,
    Meeting,
    Organization,
)

# Late logging: a record logged more than ComplianceSetting.late_log_days after the meeting. One or two late records
# happen to any branch; three or more making up 30% of its year is a way of working worth a look.
LATE_MIN_MEETINGS = 3
LATE_MIN_SHARE = Decimal("0.3")

# Year-end cramming: records logged in the year's last 14 days. A branch logging as it goes logs about one record in
# twelve there (December's own); five or more making up 40% of the year's means the year was written up at its end.
CRAM_DAYS = 14
CRAM_MIN_MEETINGS = 5
CRAM_MIN_SHARE = Decimal("0.4")

# Identical attendance: the same people present and the same absent, meeting after meeting, among the meetings
# listing the same people (a committee meeting lists fewer, so it does not break a run of general meetings). Full
# attendance in a small branch is normal, so a run counts only with someone absent; four in a row is rarely chance.
SAME_ATTENDANCE_RUN = 4

# Similar minutes: minutes shorter than this (after normalising) say too little to be told apart ("学习了文件。").
MINUTES_MIN_CHARS = 60
SHINGLE = 5  # characters per shingle: about two Chinese words, so a reworded sentence changes its shingles
SIMILAR = 0.8  # Jaccard similarity of the shingle sets from which minutes count as nearly identical
# 128 values in 16 bands of 8: two minutes share a band with probability 1 - (1 - J^8)^16, 95% at J = 0.8,
# 99.4% at 0.85 and 6% at 0.5. Minutes written from shared stock sentences (J around 0.5) are then rarely compared:
# with bands of 4 the demo's 10,000 minutes gave 800,000 pairs to check instead of 150,000.
BANDS, ROWS = 16, 8
HASHES = BANDS * ROWS
# The meetings of one bucket are compared each with the next WINDOW of them (by id): a template copied by hundreds
# of branches still flags each of them, without comparing every pair.
WINDOW = 20
# Copies confirmed per meeting, after which it looks for no more (one is enough to show it; the signal lists them).
PARTNERS = 3

CHUNK = 2000


@dataclass
class Found:
    organization_id: int
    kind: str
    figure: Decimal
    meetings: list[int]  # every meeting behind it, in order
    others: list = field(default_factory=list)  # similar minutes: [meeting, other meeting, other org, similarity]


def _share(part, whole):
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


def year_meetings(year, root=None):
    meetings = Meeting.objects.filter(held_on__range=(date(year, 1, 1), date(year, 12, 31)))
    if root is not None:
        meetings = meetings.filter(organization__path__startswith=root.path)
    return meetings


def _logged_day():
    return TruncDate("logged_at", tzinfo=timezone.get_default_timezone())


def _share_signals(kind, meetings, condition, min_meetings, min_share):
    """The organizations with at least `min_meetings` of the year's meetings meeting `condition`, making up at least
    `min_share` of them: one grouped query, then one for the ids behind the flagged ones."""
    counts = (
        meetings.values("organization_id")
        .annotate(total=Count("pk"), hits=Count("pk", filter=condition))
        .filter(hits__gte=min_meetings)
        .values_list("organization_id", "total", "hits")
        .order_by()
    )
    flagged = {org: _share(hits, total) for org, total, hits in counts if Decimal(hits) >= min_share * total}
    behind = {}
    rows = meetings.filter(condition, organization_id__in=flagged).order_by("organization_id", "held_at", "pk")
    for org, pk in rows.values_list("organization_id", "pk").iterator(chunk_size=CHUNK):
        behind.setdefault(org, []).append(pk)
    return [Found(org, kind, share, behind[org]) for org, share in flagged.items()]


def late_logging(year, root=None):
    late_days = ComplianceSetting.current().late_log_days
    meetings = year_meetings(year, root).annotate(
        logged_day=_logged_day(),
        late_after=ExpressionWrapper(F("held_on") + timedelta(days=late_days), output_field=DateField()),
    )
    late = Q(logged_day__gt=F("late_after"))
    return _share_signals(IntegritySignalKind.LATE_LOGGING, meetings, late, LATE_MIN_MEETINGS, LATE_MIN_SHARE)


def cramming(year, root=None):
    last = date(year, 12, 31)
    meetings = year_meetings(year, root).annotate(logged_day=_logged_day())
    crammed = Q(logged_day__range=(last - timedelta(days=CRAM_DAYS - 1), last))
    return _share_signals(IntegritySignalKind.CRAMMING, meetings, crammed, CRAM_MIN_MEETINGS, CRAM_MIN_SHARE)


def same_attendance(year, root=None):
    """Runs of SAME_ATTENDANCE_RUN or more consecutive meetings of a branch with the same list, someone absent."""
    rows = (
        Attendance.objects.filter(meeting__in=year_meetings(year, root))
        .order_by("meeting__organization_id", "meeting__held_at", "meeting_id")
        .values_list("meeting__organization_id", "meeting_id", "member_id", "present")
    )
    found = []
    by_meeting = itertools.groupby(rows.iterator(chunk_size=CHUNK), key=lambda row: (row[0], row[1]))
    for org, meetings in itertools.groupby(by_meeting, key=lambda item: item[0][0]):
        lists = [(pk, frozenset((member, present) for *_ids, member, present in each)) for (_o, pk), each in meetings]
        behind = _same_runs(lists)
        if behind:
            found.append(Found(org, IntegritySignalKind.SAME_ATTENDANCE, _share(len(behind), len(lists)), behind))
    return found


def _same_runs(lists):
    """The meetings of [(meeting, {(member, present)})] (in order) lying in a run of identical lists with an
    absence, counted among the meetings that list the same people."""
    by_people = {}
    for pk, entries in lists:
        by_people.setdefault(frozenset(member for member, _present in entries), []).append((pk, entries))
    behind = []
    for sequence in by_people.values():
        for entries, run in itertools.groupby(sequence, key=lambda item: item[1]):
            run = [pk for pk, _entries in run]
            if len(run) >= SAME_ATTENDANCE_RUN and any(not present for _member, present in entries):
                behind += run
    order = {pk: n for n, (pk, _entries) in enumerate(lists)}
    return sorted(behind, key=order.get)


# ----------------------------------------------------------------------------------------------- similar minutes


def normalised(text):
    """The minutes' letters and digits only (full-width folded, case ignored): spacing and punctuation say nothing."""
    return "".join(filter(str.isalnum, unicodedata.normalize("NFKC", text).lower()))


def shingles(text):
    return {text[i : i + SHINGLE] for i in range(len(text) - SHINGLE + 1)}


@functools.lru_cache(maxsize=1 << 16)  # minutes written from the same stock sentences share most shingles
def _hash(shingle):
    return int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "little")


def _probe_lists():
    """Where an empty bin of a signature borrows its value: for each bin, a fixed random list of bins to try (64:
    a minute of 60 letters fills over a third of the bins, so all 64 empty is a one-in-10^12 chance)."""
    rng = random.Random(HASHES)
    return [[rng.randrange(HASHES) for _ in range(64)] for _ in range(HASHES)]


_PROBES = _probe_lists()


def signature(shingle_set):
    """A MinHash signature of HASHES values by one permutation hashing: each shingle is hashed once, falls into one
    bin (hash mod HASHES) and each bin keeps its least value; an empty bin takes the value of the first filled bin
    on its fixed probe list ("optimal densification"). Two sets then agree on a value with probability their
    Jaccard similarity, as with HASHES independent hash functions, for one hash per shingle instead of HASHES
    (0.7 s instead of 4.7 s for the demo's 10,000 minutes)."""
    bins = [None] * HASHES
    for shingle in shingle_set:
        hashed = _hash(shingle)
        bin_, value = hashed % HASHES, hashed // HASHES
        if bins[bin_] is None or value < bins[bin_]:
            bins[bin_] = value
    filled = bins[:]
    for empty in (i for i, value in enumerate(bins) if value is None):
        filled[empty] = next(((j, bins[j]) for j in _PROBES[empty] if bins[j] is not None), None)
    return tuple(filled)


def jaccard(a, b):
    common = len(a & b)
    return common / (len(a) + len(b) - common)


@dataclass
class _Sketches:
    """The year's minutes long enough to compare, by position: their meeting, organization, normalised text, and for
    each band the key of the meeting's values in it. Compact arrays: at a province's 2.5 million minutes a dict
    entry per band and meeting took over 14 GB before the job was stopped."""

    ids: array.array = field(default_factory=lambda: array.array("q"))
    owners: array.array = field(default_factory=lambda: array.array("q"))
    texts: list = field(default_factory=list)
    bands: list = field(default_factory=lambda: [array.array("q") for _ in range(BANDS)])


def _sketches(meetings):
    """Each minute read once, in id order, streamed: its signature's bands kept as one 64-bit key each."""
    found = _Sketches()
    rows = meetings.annotate(length=Length("minutes")).filter(length__gte=MINUTES_MIN_CHARS)
    for pk, org, text in rows.values_list("pk", "organization_id", "minutes").order_by("pk").iterator(chunk_size=CHUNK):
        text = normalised(text)
        if len(text) < MINUTES_MIN_CHARS:
            continue
        values = signature(shingles(text))
        found.ids.append(pk)
        found.owners.append(org)
        found.texts.append(text)
        for band, keys in enumerate(found.bands):
            keys.append(hash((band, values[band * ROWS : (band + 1) * ROWS])))  # ints only: the same every run
    return found


@dataclass
class _Pairs:
    """The similar pairs found, by position in the sketches (compact: at a province most minutes have copies)."""

    sketches: _Sketches
    first: array.array = field(default_factory=lambda: array.array("q"))
    second: array.array = field(default_factory=lambda: array.array("q"))
    score: array.array = field(default_factory=lambda: array.array("H"))  # the similarity in ten-thousandths

    def __len__(self):
        return len(self.first)


def _similar_pairs(meetings) -> _Pairs:
    """The candidates (meetings sharing a band, each compared with the next WINDOW of its bucket) whose shingles are
    at least SIMILAR alike.

    Band by band, the meetings are sorted by their key there, so a bucket is a run of equal keys. A meeting stops
    looking for more copies once PARTNERS are confirmed, but is still compared with by a meeting that has fewer: a
    template copied by hundreds of branches still flags each copy, with a bounded number of pairs (about PARTNERS
    per meeting) instead of hundreds each."""
    sketches = _sketches(meetings)
    count, texts = len(sketches.ids), sketches.texts
    partners = bytearray(count)
    confirmed = set()  # a * count + b of the pairs found
    found = _Pairs(sketches)

    @functools.lru_cache(maxsize=4096)  # a bucket's meetings are compared with their neighbours: recently shingled
    def shingled(position):
        return shingles(texts[position])

    for keys in sketches.bands:
        order = sorted(range(count), key=keys.__getitem__)  # stable: a bucket's meetings stay in id order
        for _key, bucket in itertools.groupby(order, key=keys.__getitem__):
            bucket = list(bucket)
            for at, a in enumerate(bucket[:-1]):
                for b in bucket[at + 1 : at + 1 + WINDOW]:
                    if partners[a] >= PARTNERS and partners[b] >= PARTNERS or a * count + b in confirmed:
                        continue
                    mine, theirs = shingled(a), shingled(b)
                    small, large = sorted((len(mine), len(theirs)))
                    if small < SIMILAR * large:  # the similarity is at most the ratio of the sizes
                        continue
                    score = jaccard(mine, theirs)
                    if score >= SIMILAR:
                        confirmed.add(a * count + b)
                        partners[a], partners[b] = min(partners[a] + 1, 255), min(partners[b] + 1, 255)
                        found.first.append(a)
                        found.second.append(b)
                        found.score.append(int(Decimal(score).quantize(Decimal("0.0001")) * 10000))
    shingled.cache_clear()
    texts.clear()  # what follows needs only the ids and organizations: the texts and keys were most of the memory
    sketches.bands.clear()
    return found


def similar_minutes(year, root=None):
    """Every organization (of the subtree under `root`) with minutes nearly identical to other minutes of the year,
    its own or another's anywhere in the tree: its meetings with a copy, and the pairs, the closest first (the first
    MEETINGS_KEPT, which the signal keeps)."""
    pairs = _similar_pairs(year_meetings(year))
    ids, owners = pairs.sketches.ids, pairs.sketches.owners
    inside = None
    if root is not None:
        inside = set(Organization.objects.filter(path__startswith=root.path).values_list("pk", flat=True))
    by_org = {}  # organization: [2 × pair + 0 when its meeting is the pair's first, 1 when the second]
    for n in range(len(pairs)):
        for side, mine in enumerate((pairs.first[n], pairs.second[n])):
            if inside is None or owners[mine] in inside:
                by_org.setdefault(owners[mine], []).append(2 * n + side)
    kept = IntegritySignal.MEETINGS_KEPT
    found = []
    for org, entries in sorted(by_org.items()):
        copies = []
        for entry in entries:
            n, side = divmod(entry, 2)
            mine, other = (pairs.first[n], pairs.second[n]) if side == 0 else (pairs.second[n], pairs.first[n])
            copies.append((-pairs.score[n], ids[mine], ids[other], owners[other], n))
        copies.sort()  # the closest copies first
        others = [
            [mine, other, other_org, _ten_thousandths(pairs.score[n])] for _s, mine, other, other_org, n in copies
        ]
        meetings = sorted({mine for _s, mine, *_rest in copies})
        best = Decimal(others[0][3])
        found.append(Found(org, IntegritySignalKind.SIMILAR_MINUTES, best, meetings, others[:kept]))
    return found


def _ten_thousandths(n):
    return str(Decimal(n).scaleb(-4).quantize(Decimal("0.0001")))


def find(year, root=None) -> list[Found]:
    """Every signal of the year, of the subtree under `root` (or the whole tree)."""
    return [
        *late_logging(year, root),
        *cramming(year, root),
        *similar_minutes(year, root),
        *same_attendance(year, root),
    ]
