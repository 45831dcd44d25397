"""Drives Segment's official Python library (segment-analytics-python, unchanged) against an
UnMoGrowP server: an install with an advertising id, a purchase, a screen, all with fixed
message ids. Usage: python segment_client.py BASE_URL WRITE_KEY GAID RUN_TAG
Exits 1 when the library reports an error."""

import datetime
import sys

from segment.analytics import Client

base, write_key, gaid, tag = sys.argv[1:5]
errors = []
client = Client(
    write_key,
    host=base,
    sync_mode=True,
    gzip=True,
    max_retries=1,
    on_error=lambda error, items: errors.append(repr(error)),
)
context = {
    "os": {"name": "Android", "version": "14"},
    "device": {"advertisingId": gaid, "model": "Pixel 8"},
    "locale": "de-DE",
}
# A minute after the click: an install seconds after its click is rejected as click injection.
now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=60)
client.track(anonymous_id="anon-" + tag, event="Application Installed", context=context,
             timestamp=now, message_id="py-install-" + tag)
client.track(anonymous_id="anon-" + tag, event="Order Completed", context=context,
             properties={"revenue": 7.5, "currency": "EUR", "order_id": "o-" + tag},
             timestamp=now + datetime.timedelta(seconds=1), message_id="py-order-" + tag)
client.screen(anonymous_id="anon-" + tag, name="Home", context=context,
              timestamp=now + datetime.timedelta(seconds=2), message_id="py-screen-" + tag)
client.flush()
if errors:
    print("\n".join(errors))
    sys.exit(1)
print("sent")
