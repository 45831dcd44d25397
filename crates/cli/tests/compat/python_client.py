"""Drives an official Python analytics library, unchanged, against an UnMoGrowP server: an
install with an advertising id, a purchase and a screen, with fixed message ids.

Usage: python python_client.py LIBRARY BASE_URL WRITE_KEY GAID RUN_TAG
LIBRARY: segment (segment-analytics-python), rudderstack (rudder-sdk-python) or posthog
(posthog). Exits 1 when the library reports an error."""

import datetime
import sys
import uuid

library, base, write_key, gaid, tag = sys.argv[1:6]
# A minute after the click: an install seconds after its click is rejected as click injection.
now = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=60)

if library == "posthog":
    from posthog import Posthog

    errors = []
    client = Posthog(write_key, host=base, sync_mode=True, gzip=True, max_retries=1,
                     on_error=lambda error, items: errors.append(repr(error)))
    device = {"$gaid": gaid, "$os": "Android", "$os_version": "14", "$device_model": "Pixel 8"}
    def event_id(name):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}-{tag}"))
    client.capture("Application Installed", distinct_id="anon-" + tag, properties=device,
                   timestamp=now, uuid=event_id("install"))
    client.capture("Order Completed", distinct_id="anon-" + tag,
                   properties={**device, "revenue": 7.5, "currency": "EUR"},
                   timestamp=now + datetime.timedelta(seconds=1), uuid=event_id("order"))
    client.capture("$screen", distinct_id="anon-" + tag, properties={**device, "$screen_name": "Home"},
                   timestamp=now + datetime.timedelta(seconds=2), uuid=event_id("screen"))
    client.flush()
    client.shutdown()
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    print("sent")
    sys.exit(0)

if library == "segment":
    from segment.analytics import Client
elif library == "rudderstack":
    from rudderstack.analytics import Client
else:
    sys.exit(f"unknown library {library!r}: segment, rudderstack or posthog")
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
