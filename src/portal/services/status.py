"""A dossier's status: the codes exchanged with the National Public Service Portal (0 is a
draft), their labels, and the groups of statuses the rules ask about."""

from __future__ import annotations

from enum import IntEnum

from portal.services.errors import N_


class Status(IntEnum):
    DRAFT = 0
    NEW = 1
    RECEIVED = 2
    REFUSED = 3
    PROCESSING = 4
    SUPPLEMENT = 5
    PAYMENT = 6
    WITHDRAWN = 7
    STOPPED = 8
    PROCESSED = 9
    RETURNED = 10


(
    DRAFT,
    NEW,
    RECEIVED,
    REFUSED,
    PROCESSING,
    SUPPLEMENT,
    PAYMENT,
    WITHDRAWN,
    STOPPED,
    PROCESSED,
    RETURNED,
) = Status

STATUS_LABELS = {
    DRAFT: N_("Draft"),
    NEW: N_("Submitted, waiting for reception"),
    RECEIVED: N_("Received"),
    REFUSED: N_("Refused at reception"),
    PROCESSING: N_("Being processed"),
    SUPPLEMENT: N_("Supplement requested"),
    PAYMENT: N_("Payment requested"),
    WITHDRAWN: N_("Withdrawn by the applicant"),
    STOPPED: N_("Processing stopped"),
    PROCESSED: N_("Result ready"),
    RETURNED: N_("Result returned"),
}
FINAL = frozenset({REFUSED, WITHDRAWN, STOPPED, RETURNED})
# What the day a dossier ended is called, by how it ended (only a returned result is done).
END_LABELS = {
    REFUSED: N_("Refused on"),
    WITHDRAWN: N_("Withdrawn on"),
    STOPPED: N_("Stopped on"),
    RETURNED: N_("Completed on"),
}
# Statuses in which the legal clock runs (overdue is computed only for these).
CLOCK_RUNS = frozenset({RECEIVED, PROCESSING, PAYMENT, PROCESSED})
# The result is issued: the applicant may have it where the procedure returns results online.
RESULT_ISSUED = frozenset({PROCESSED, RETURNED})
