"""English: the reference catalogue every other language is checked against (tests/bot/test_locales.py).

Telegram HTML with `{placeholders}`; a `Plural` holds one text per CLDR plural category of English.
"""

from __future__ import annotations

from bot.ui.locales.plural import Plural

EN: dict[str, str | Plural] = {
    # commands (menu descriptions)
    "cmd.start": "Start and show the menu",
    "cmd.dropoff": "Drop off an item in a locker near you",
    "cmd.my": "Your open deliveries",
    "cmd.jobs": "Pickups assigned to you (couriers)",
    "cmd.cancel": "Leave the current step or cancel a reservation",
    "cmd.help": "How this bot works",
    "cmd.forget": "Delete what this bot stores about you",
    "cmd.language": "Choose your language",
    "cmd.lockers": "Admin: lockers held at Harbor",
    "cmd.deliveries": "Admin: recent deliveries [state]",
    "cmd.delivery": "Admin: one delivery with its history",
    "cmd.release": "Admin: release a delivery's locker",
    "cmd.courier": "Admin: courier add|remove <id or @username>",
    "cmd.couriers": "Admin: list couriers",
    "cmd.stats": "Admin: numbers at a glance",
    # start / help
    "start.greeting": (
        "Hi {name}! I find a free smart locker near you and give you its key.\n"
        "Drop your item off, then hand the pickup over to a friend, a customer or a courier."
    ),
    "start.menu": "What would you like to do?",
    "menu.dropoff": "📦 Drop off an item",
    "menu.my": "🗂 My deliveries",
    "menu.help": "❓ Help",
    "help": (
        "<b>How it works</b>\n"
        "1. /dropoff and share your location (or type <code>lat, lon</code>).\n"
        "2. Pick a locker location near you, then a size: I hold a locker for you for {hold}.\n"
        "3. At the locker, tap <b>Get drop-off key</b>. Scan the QR code with your Harbor app and hold your "
        "phone near the tower: the door opens. Put the item in and close the door.\n"
        "4. I notice when the item is in and let you hand the pickup over: to yourself, to anyone with a "
        "one-time link, or to a courier. They get the pickup key here when they need it.\n\n"
        "/my shows your open deliveries, /cancel leaves the current step or gives a reserved locker back, "
        "/language changes the language."
    ),
    # language
    "language.choose": "Which language should I use?",
    "language.set": "Okay, I'll write to you in English from now on.",
    # units (format.py)
    "unit.seconds": Plural(one="{count} second", other="{count} seconds"),
    "unit.minutes": Plural(one="{count} minute", other="{count} minutes"),
    "unit.hours": Plural(one="{count} hour", other="{count} hours"),
    "unit.meters": "{value} m",
    "unit.kilometers": "{value} km",
    # privacy
    "forget.confirm": (
        "This deletes what I store about you: your name, username and language, a drop-off step in progress "
        "(with the location you shared), and every trace of you on finished deliveries (keys, links, history "
        "and sent notices). Deliveries that are still open keep what they need until they finish. Go ahead?"
    ),
    "forget.button": "🗑 Yes, forget me",
    "forget.done": "Done: I deleted what I stored about you.",
    "forget.kept": (
        "Your open deliveries {ids} keep your Telegram id (your name is blanked) until they finish; "
        "/forget again after that."
    ),
    "forget.again": "If you write to me again, I'll know your name from that message again.",
    # drop-off conversation
    "dropoff.share_button": "📍 Share my location",
    "dropoff.searching": "Looking for free lockers near you…",
    "dropoff.directions_button": "🧭 Directions",
    "dropoff.nearby_header": "Free lockers within {radius} km:",
    "dropoff.nearby_item": "<b>{index}. {name}</b> — {distance}\n{address}\n{sizes}",
    "dropoff.nearby_footer": "Tap a location to choose a size.",
    "dropoff.location_button": "📍 {name} ({distance})",
    "dropoff.nothing_nearby": (
        "I found no free lockers within {radius} km of that place. Share another location to try again, or /cancel."
    ),
    "dropoff.choose_size": "<b>{name}</b>\n{address}\n\nWhich locker size do you need?",
    "dropoff.size_button": "{size} — {free} free",
    "dropoff.back_button": "⬅ Other locations",
    "dropoff.no_sizes": "<b>{name}</b> has no free lockers right now. Pick another location or share a new one.",
    "dropoff.remind_choose_size": "Tap one of the sizes above, or /cancel.",
    "dropoff.size_ran_out": "All {size} lockers at <b>{name}</b> were just taken.",
    "dropoff.sizes_still_free": "Still free there:",
    "dropoff.reserved": (
        "✅ Locker <b>{locker}</b> ({size}) is held for you at <b>{name}</b>, {address}.\n"
        "The hold ends at <b>{until}</b>.\n\n"
        "When you are at the locker, tap <b>Get drop-off key</b>."
    ),
    "dropoff.key_button": "🔑 Get drop-off key",
    "dropoff.new_key_button": "🔑 New drop-off key",
    "dropoff.cancel_button": "✖ Cancel",
    "dropoff.hold_expired": (
        "⌛ The hold on locker <b>{locker}</b> at <b>{name}</b> ended unused, so the locker was given back. "
        "/dropoff to start again."
    ),
    "dropoff.hold_limit": (
        "⌛ Locker <b>{locker}</b> at <b>{name}</b> has been held for you as long as one reservation may be, "
        "so I gave it back. /dropoff to start again when you are at the lockers."
    ),
    "dropoff.already_open": (
        "You already have a drop-off under way: locker <b>{locker}</b> ({size}) at <b>{name}</b>, {state}."
    ),
    "dropoff.resume_button": "↩ Continue it",
    "dropoff.start_over_button": "🆕 Cancel it and start over",
    "dropoff.cancelled": "Cancelled: locker <b>{locker}</b> at <b>{name}</b> was given back.",
    "dropoff.left": "Okay, stopped. /dropoff whenever you want to start again.",
    "dropoff.nothing_to_cancel": "There is nothing to cancel. /dropoff to drop an item off.",
    "dropoff.item_inside": "Your item is already in locker <b>{locker}</b>; it can no longer be cancelled.",
    "dropoff.locker_lost": (
        "Sorry, locker <b>{locker}</b> at <b>{name}</b> was taken by someone else after your key ran out. "
        "/dropoff to find another one."
    ),
    # handover (sender's side)
    "handover.link_button": "🔗 Share a pickup link",
    "handover.self_button": "🙋 I'll pick it up myself",
    "handover.courier_button": "🚚 Send to a courier",
    "handover.link_created": (
        "Send this one-time link to the person who will pick the item up. The first person who opens it "
        "becomes the recipient; it works until {until}.\n\n{url}"
    ),
    "handover.revoke_button": "🚫 Revoke the link",
    "handover.new_link_button": "🔁 New link",
    "handover.link_expired": (
        "⌛ Nobody opened your pickup link for locker <b>{locker}</b> at <b>{name}</b> in time, so it no "
        "longer works. Choose below how the item gets picked up."
    ),
    "handover.revoked": "The pickup link no longer works. You can make a new one any time.",
    "handover.claimed_sender": "🔗 {who} opened your pickup link and will collect the item from locker {locker}.",
    "handover.previous_key_live": (
        "Note: {who} still holds a pickup key that opens the locker until {until}; the locker network "
        "cannot withdraw it."
    ),
    "handover.courier_gone": (
        "🚚 {who} is no longer a courier for this service, so nobody is collecting delivery #{id} "
        "(locker {locker}) now. Choose below who picks it up."
    ),
    "handover.collector_has_key": (
        "{who} holds a pickup key for locker <b>{locker}</b> that works until <b>{until}</b>. The locker "
        "network cannot withdraw it: if you hand the item over now, {who} could still open the locker until "
        "then. Wait until {until}, or hand it over now?"
    ),
    "handover.wait_button": "⏳ I'll wait",
    "handover.anyway_button": "➡ Hand it over now",
    "handover.waiting": "Okay, nothing changed. After {until}, choose again from /my.",
    "handover.self_done": "Okay, you'll pick it up yourself.",
    "handover.choose_courier": "Which courier should collect it?",
    "handover.no_couriers": "There are no couriers registered yet. Share a pickup link instead.",
    "handover.courier_assigned_sender": "🚚 {who} will collect the item from locker {locker}.",
    "handover.not_a_courier": "That person is no longer a courier. Choose another one.",
    "handover.own_link": "This is your own pickup link. Send it to the person who will collect the item.",
    "handover.link_refused": "Sorry, this link doesn't work: it may have been used already or expired.",
    # collecting (recipient's and courier's side)
    "pickup.waiting": (
        "📦 An item is waiting for you in locker <b>{locker}</b> ({size}) at <b>{name}</b>, {address}.\n"
        "Please collect it within {stay}.\n\n"
        "When you are at the locker, tap <b>Get pickup key</b>."
    ),
    "pickup.courier_job": "🚚 New pickup job #{id} from {sender}.",
    "pickup.key_button": "🔑 Get pickup key",
    "pickup.new_key_button": "🔑 New pickup key",
    "pickup.completed_collector": "✅ Collected from locker {locker} at {name}. Thank you!",
    "pickup.reminder_collector": (
        "⏰ Reminder: an item is still waiting for you in locker <b>{locker}</b> at <b>{name}</b>, {address}."
    ),
    "pickup.reminder_sender": "⏰ Your item in locker <b>{locker}</b> at <b>{name}</b> has not been collected yet.",
    "pickup.unassigned": (
        "Delivery #{id} (locker {locker} at {name}) is no longer yours to collect: the sender handed it to "
        "someone else."
    ),
    "pickup.unassigned_key_live": (
        "I removed your pickup key from this chat; please don't use it. The locker network cannot withdraw "
        "a key, so it would still open the locker until {until}."
    ),
    "pickup.released": "The service has released locker <b>{locker}</b> at <b>{name}</b>; delivery #{id} is closed.",
    "jobs.none": "You have no open pickups.",
    "jobs.not_courier": "/jobs is for couriers. Ask the service to register you.",
    "jobs.header": "Your open pickups:",
    "dropoff.already_reserving": "You already have a locker reserved; see the message below.",
    # keys
    "key.dropoff_caption": (
        "🔑 <b>Drop-off key</b> — locker <b>{locker}</b> ({size})\n"
        "{name}, {address}\n"
        "Valid until <b>{until}</b>.\n\n"
        "Open your Harbor app, scan this code and hold your phone near the tower: locker {locker} opens. "
        "Put the item in and close the door. Don't share this code."
    ),
    "key.pickup_caption": (
        "🔑 <b>Pickup key</b> — locker <b>{locker}</b> ({size})\n"
        "{name}, {address}\n"
        "Valid until <b>{until}</b>.\n\n"
        "Open your Harbor app, scan this code and hold your phone near the tower: locker {locker} opens. "
        "Take the item and close the door. Don't share this code."
    ),
    "key.expired": "⌛ Your {kind} key for locker <b>{locker}</b> at <b>{name}</b> expired unused.",
    "key.expired_closed": "⌛ Your {kind} key for locker <b>{locker}</b> expired.",
    "key.kind.dropoff": "drop-off",
    "key.kind.pickup": "pickup",
    "key.still_valid": "Your key above is still valid until {until}. Scroll up to the QR code.",
    "key.private_only": "For your safety I only send keys in our private chat. Open a chat with me and try there.",
    # Locker Open links (KEY_MODE=link)
    "key.link_dropoff_caption": (
        "🔑 <b>Drop-off link</b> — locker <b>{locker}</b> ({size})\n"
        "{name}, {address}\n"
        "Held for you until <b>{until}</b>.\n\n"
        "At the tower, tap <b>Open locker</b> below: Harbor's Locker Open app opens locker {locker} "
        "(on Android, install Locker Open first). Or scan this code with another phone. "
        "Put the item in and close the door. Don't share this link."
    ),
    "key.link_pickup_caption": (
        "🔑 <b>Pickup link</b> — locker <b>{locker}</b> ({size})\n"
        "{name}, {address}\n"
        "Valid until <b>{until}</b>.\n\n"
        "At the tower, tap <b>Open locker</b> below: Harbor's Locker Open app opens locker {locker} "
        "(on Android, install Locker Open first). Or scan this code with another phone. "
        "Take the item and close the door. Don't share this link."
    ),
    "key.open_button": "🔓 Open locker {locker}",
    "dropoff.link_held": (
        "✅ Locker <b>{locker}</b> ({size}) is held for you at <b>{name}</b>, {address}, until <b>{until}</b>.\n\n"
        "Your drop-off link is below: open it when you are at the locker."
    ),
    "link.no_locker": "No {size} locker is free at <b>{name}</b> right now, so I could not make a new link.",
    "web.return_title": "Harbor Lockers",
    "web.return_page": "Thank you! You can go back to Telegram now: I'll tell you there how it went.",
    "web.return_button": "Back to Telegram",
    # "It didn't fit"
    "fit.button": "📦 It didn't fit",
    "fit.confirm": (
        "Harbor reads locker <b>{locker}</b> as occupied. Is it empty — did you take your item back out? "
        "Only then do I give it back and find you a bigger one."
    ),
    "fit.confirm_yes": "✅ Yes, it's empty",
    "fit.confirm_no": "↩ No, my item is inside",
    "fit.moved": (
        "📦 Locker <b>{old}</b> ({old_size}) was given back. Locker <b>{locker}</b> ({size}) at <b>{name}</b> "
        "is yours now; your new key is below."
    ),
    "fit.no_bigger": "No bigger locker is free at <b>{name}</b> right now. Your locker <b>{locker}</b> is still yours.",
    "fit.nearby_button": "📍 Other locations nearby",
    "fit.size_button": "{size} — {free} free",
    # watching
    "watch.in_locker": (
        "📦 Your item is in locker <b>{locker}</b> at <b>{name}</b>, {address}.\nWho picks it up? Choose below."
    ),
    "watch.completed_sender": "✅ Delivery #{id} is complete: the item was collected from locker {locker} at {name}.",
    # /my
    "my.none": "You have no open deliveries. /dropoff to start one.",
    "my.header": "Your open deliveries:",
    "my.item": "<b>#{id}</b> · {name} · locker {locker} ({size}) · {state}",
    "state.draft": "being set up",
    "state.reserved": "reserved until {until}",
    "state.awaiting_dropoff": "waiting for the drop-off",
    "state.in_locker": "in the locker",
    "state.awaiting_pickup": "waiting for pickup",
    "state.completed": "completed",
    "state.cancelled": "cancelled",
    "state.expired": "expired",
    "state.released": "released by the service",
    # problems
    "error.harbor_down": (
        "The locker network is not answering right now. Nothing was changed on your side; please try again in a minute."
    ),
    "error.retry_button": "🔁 Try again",
    "error.stale_button": "This button is no longer active.",
    "error.moved_on": "This delivery has moved on: here is where it stands now.",
    "error.not_found": "I can't find that delivery. /my lists yours.",
    "error.wrong_state": "That's no longer possible: this delivery is {state}.",
    "error.location_gone": "That location is no longer available. Share your location again to see what's near.",
    "error.unexpected": "Something went wrong on my side. Nothing was lost; please try again.",
    "fallback.message": "I didn't get that. /dropoff drops an item off, /my shows your deliveries, /help explains.",
    "fallback.group": "Please talk to me in a private chat.",
    "throttle.slow_down": "You're sending messages faster than I can answer. Please slow down; I'll skip some.",
    "throttle.searches": "That's a lot of searches in a short time. Please wait a minute, then share your location.",
    # admin
    "admin.only": "This command is for the service's admins.",
    "admin.private_only": "Admin commands work only in a private chat with me.",
    "admin.truncated": Plural(one="… {count} more line not shown.", other="… {count} more lines not shown."),
    "admin.actor_system": "system",
    "admin.nobody": "—",
    "admin.collector": "{who} ({kind})",
    "admin.lockers_none": "The service holds no lockers at Harbor right now.",
    "admin.lockers_header": "<b>Lockers held at Harbor: {count}</b> · without an open delivery: {orphans}",
    "admin.locker_line": (
        "<b>{locker}</b> ({size}) · tower <code>{tower}</code> · {status} — delivery #{id}, {state}, {name}"
    ),
    "admin.locker_orphan": "⚠️ <b>{locker}</b> ({size}) · tower <code>{tower}</code> · {status} — no open delivery",
    "admin.more_orphans": "Release buttons are shown for the first {shown} only; /lockers again for the rest.",
    "admin.release_locker_button": "🔓 Release {locker} (tower {tower})",
    "admin.locker_released": "✅ Locker id {locker} in tower <code>{tower}</code> was released at Harbor.",
    "admin.locker_in_use": (
        "Locker {locker} in tower <code>{tower}</code> now belongs to delivery #{id}; /release {id} closes it."
    ),
    "admin.deliveries_none": "There are no deliveries yet.",
    "admin.deliveries_none_state": "There are no deliveries in state <i>{state}</i>.",
    "admin.deliveries_header": "<b>Deliveries</b> (the latest {count}, newest first):",
    "admin.deliveries_header_state": ("<b>Deliveries in state <i>{state}</i></b> (the latest {count}, newest first):"),
    "admin.delivery_line": (
        "<b>#{id}</b> <i>{state}</i> · {name} · locker {locker} ({size})\n    {created} · from {sender}"
    ),
    "admin.deliveries_footer": "/delivery &lt;id&gt; shows one delivery with its history.",
    "admin.delivery_usage": "Usage: /delivery &lt;id&gt;, for example /delivery 42.",
    "admin.delivery_not_found": "There is no delivery #{id}.",
    "admin.delivery_card": (
        "<b>Delivery #{id}</b> · <i>{state}</i>\n"
        "{name}, {address}\n"
        "Locker {locker} ({size}) · tower <code>{tower}</code>\n"
        "Sender: {sender}\n"
        "Collector: {collector}\n"
        "Created {created} · updated {updated}\n"
        "Times are in {tz}."
    ),
    "admin.events_header": "<b>Events</b> ({count}):",
    "admin.events_none": "No events recorded.",
    "admin.event_line": "{at} · {actor} · <b>{kind}</b>",
    "admin.event_line_detail": "{at} · {actor} · <b>{kind}</b> — {detail}",
    "admin.release_usage": "Usage: /release &lt;id&gt;, for example /release 42.",
    "admin.release_not_open": "Delivery #{id} is already <i>{state}</i>: there is nothing to release.",
    "admin.released": (
        "✅ Delivery #{id} is closed as <i>{state}</i>: locker {locker} at {name} was released at Harbor "
        "and the people involved were told."
    ),
    "admin.notify_failed": "I could not message user {who} (they may have blocked the bot).",
    "admin.courier_usage": (
        "Usage: /courier add &lt;user id or @username&gt; or /courier remove &lt;user id or @username&gt;."
    ),
    "admin.unknown_user": "I don't know {ref}: they must /start the bot first, then try again.",
    "admin.courier_added": "🚚 {who} is now a courier.",
    "admin.courier_already": "{who} is already a courier.",
    "admin.courier_removed": "{who} is no longer a courier.",
    "admin.courier_not": "{who} is not a courier.",
    "admin.courier_open_jobs": Plural(
        one="Their {count} open pickup {ids} went back to its sender, who was told and may choose again.",
        other="Their {count} open pickups {ids} went back to the senders, who were told and may choose again.",
    ),
    "admin.courier_unreachable": "I could not message them (they may have blocked the bot).",
    "admin.courier_welcome": (
        "🚚 You are now a courier for this service. When a sender hands a pickup over to you, I'll send you "
        "the details here; /jobs lists your open pickups."
    ),
    "admin.courier_goodbye": "You are no longer a courier for this service.",
    "admin.couriers_none": "There are no couriers yet. /courier add &lt;user id or @username&gt; adds one.",
    "admin.couriers_header": "<b>Couriers</b> ({count}):",
    "admin.courier_line": "• {who} · id <code>{id}</code>",
    "admin.stats": (
        "<b>Stats</b>\n\n"
        "<b>Deliveries by state</b> (created today since 00:00 UTC · in the last 7 days):\n{states}\n\n"
        "Median time from drop-off to pickup (last 7 days): {median}\n"
        "Lockers held at Harbor now: {held}"
    ),
    "admin.stats_state_line": "<i>{state}</i>: {today} · {week}",
    "admin.stats_total": "<b>total</b>: {today} · {week}",
    "admin.stats_no_deliveries": "no deliveries in the last 7 days",
    "admin.stats_median": Plural(one="{median} ({count} pickup)", other="{median} ({count} pickups)"),
    "admin.stats_no_pickups": "no pickups yet",
    "admin.stats_unknown": "unknown (Harbor is not answering)",
    # issue 16 (x16b): admins find deliveries by person or locker, read states in words, confirm releases
    "admin.state.draft": "being set up",
    "admin.state.reserved": "reserved",
    "admin.state.awaiting_dropoff": "waiting for the drop-off",
    "admin.state.in_locker": "in the locker",
    "admin.state.awaiting_pickup": "waiting for pickup",
    "admin.state.completed": "completed",
    "admin.state.cancelled": "cancelled",
    "admin.state.expired": "expired",
    "admin.state.released": "released",
    "admin.search_header_person": "<b>Deliveries of {who}</b> (the latest {count}, newest first):",
    "admin.search_header_name": (
        "<b>Deliveries of people whose name contains “{given}”</b> ({who}; the latest {count}, newest first):"
    ),
    "admin.search_header_locker": "<b>Deliveries in locker {given}</b> (the latest {count}, newest first):",
    "admin.search_none_person": "{who} has no deliveries.",
    "admin.search_none_name": (
        "Nobody whose name contains “{given}” has a delivery, and no state is called that.\n{usage}"
    ),
    "admin.search_none_locker": "There are no deliveries in locker {given}.",
    "admin.deliveries_usage": (
        "/deliveries lists the latest deliveries; narrow it with a state (<i>{states}</i>), a person "
        "(@username, a user id or part of a name) or a locker (<code>locker 57</code>, "
        "<code>locker TOWER/57</code>)."
    ),
    "admin.release_confirm": (
        "⚠️ Delivery #{id} has an item in locker <b>{locker}</b> at {name} ({state}). Releasing frees the locker "
        "at Harbor and closes the delivery: whoever opens the door next may take the item. The sender and the "
        "collector will be told. Release it?"
    ),
    "admin.release_confirm_yes": "🔓 Yes, release #{id}",
    "admin.release_confirm_no": "Keep it",
    "admin.release_kept": "Nothing was released: delivery #{id} stays {state}.",
    "admin.release_changed": "Delivery #{id} changed since you were asked: it is now {state}.",
    # issue 17: find a locker from any device (typed places, your places, sizes, papercuts)
    "dropoff.ask_place": (
        "Where are you? Tap <b>Share my location</b> below, or type where you want to drop off: a location's "
        "name, a street, a city or a ZIP code (like <code>Mission St</code>, "
        "<code>Austin</code> or <code>94103</code>), or coordinates like <code>37.7793, -122.4193</code>."
    ),
    "dropoff.remind_place": (
        "I need a place to find lockers: tap <b>Share my location</b>, or type a location's name, a street, a "
        "city or a ZIP code, or coordinates like <code>37.7793, -122.4193</code>. /cancel to stop."
    ),
    "dropoff.remind_choose_place": (
        "Tap one of the locations above, or type or share another place to search again. /cancel to stop."
    ),
    "dropoff.searching_for": "Looking for “{query}”…",
    "dropoff.found_header": "Locations matching “{query}”:",
    "dropoff.found_item": "<b>{index}. {name}</b>\n{address}\n{sizes}",
    "dropoff.found_button": "📍 {name}",
    "dropoff.found_full": "No free lockers right now at: {names}.",
    "dropoff.found_more": Plural(
        one="{count} more location matches: type more of its name, street or ZIP code to see it.",
        other="{count} more locations match: type more of the name, street or ZIP code to narrow it down.",
    ),
    "dropoff.found_footer": "Tap a location to choose a size, or type another place to search again.",
    "dropoff.nothing_found": (
        "I found no locker location matching “{query}”. Try a location's name (like <code>Civic Center</code>), "
        "a street (<code>Mission St</code>), a city (<code>Austin</code>) or a ZIP code (<code>94103</code>), "
        "or share your location."
    ),
    "dropoff.all_full": (
        "“{query}” matches {names}, but no locker is free there right now. Try another place, or share your "
        "location to search nearby."
    ),
    "dropoff.places_prompt": "Or tap a place you used before:",
    "dropoff.place_button": "⭐ {name}",
    "dropoff.out_of_range": (
        "Those coordinates are out of range: latitude goes from -90 to 90 and longitude from -180 to 180, "
        "like <code>37.7793, -122.4193</code>."
    ),
    "dropoff.size_line": "• {size}",
    "dropoff.held_size": "📦 {size}",
    "dropoff.geocoded": "No locker location is called “{query}”, so I looked for lockers around that address.",
    "dropoff.list_loading": "I'm still loading the list of locker locations: send that again in a moment.",
    "size.dims": "up to {dims} {unit}",
    "size.name.small": "small",
    "size.name.medium": "medium",
    "size.name.large": "large",
    "size.name.x-large": "x-large",
    "size.use.small": "documents, phones, small parcels",
    "size.use.medium": "shoe boxes, most parcels",
    "size.use.large": "backpacks, carry-on bags",
    "size.use.x-large": "suitcases, sports gear",
    "forget.no_button": "✖ No, keep it",
    "forget.kept_all": "Okay, I forgot nothing.",
    "my.finished_header": "Recently finished:",
    "my.finished_item": "✔ <b>#{id}</b> · {name} · locker {locker} ({size}) · {state}",
    "handover.revoke_finished": (
        "Delivery #{id} is already {state}: its pickup link no longer works, so there is nothing to revoke."
    ),
    # issue 15: link-mode keys that outlive the bot's records
    "fit.moved_link_live": (
        "📦 Locker <b>{old}</b> ({old_size}) stays held for a few minutes, until Harbor ends the hold of its "
        "link: please don't use that link. Locker <b>{locker}</b> ({size}) at <b>{name}</b> is yours now; "
        "your new link is below."
    ),
    "key.link_pickup_caption_live": (
        "🔑 <b>Pickup link</b> — locker <b>{locker}</b> ({size})\n"
        "{name}, {address}\n"
        "This link opens the locker once and works until it is used: the locker network cannot withdraw "
        "it. If you lose it, tap <b>New pickup key</b> and I send you the same link again.\n\n"
        "At the tower, tap <b>Open locker</b> below: Harbor's Locker Open app opens locker {locker} "
        "(on Android, install Locker Open first). Or scan this code with another phone. "
        "Take the item and close the door. Don't share this link."
    ),
    "key.link_expired_live": (
        "⌛ I removed your {kind} link for locker <b>{locker}</b> at <b>{name}</b> from this chat. The locker "
        "network cannot withdraw a Locker Open link, so it may still open the locker until it is used; tap "
        "below and I send you the same link again."
    ),
    "handover.collector_has_link": (
        "{who} holds a Locker Open link for locker <b>{locker}</b>. The locker network cannot withdraw it and "
        "it works until it is used: if you hand the item over now, {who} could still open the locker. "
        "The new collector gets the same link, and the first to use it collects. Hand it over now?"
    ),
    "handover.previous_link_live": (
        "Note: {who} still has a Locker Open link for this locker; the locker network cannot withdraw it, "
        "so it opens the locker until it is used."
    ),
    "pickup.unassigned_link_live": (
        "I removed your pickup link from this chat; please don't use it. The locker network cannot withdraw "
        "a Locker Open link: it would still open the locker until it is used."
    ),
    "link.locker_in_use": (
        "Harbor offered locker <b>{locker}</b> for your new link, but another delivery still uses it, so I "
        "did not send it. Your delivery is unchanged: try again in a minute."
    ),
    "watch.opened_without_key_sender": (
        "⚠️ Locker <b>{locker}</b> at <b>{name}</b> (delivery #{id}) was opened although I gave nobody a "
        "key for it, and it is empty now. I have told the service's admins."
    ),
    "watch.opened_without_key_admin": (
        "⚠️ Delivery #{id}: locker <b>{locker}</b> at <b>{name}</b> was opened without a key I gave out (an "
        "older Locker Open link may still have been live). The delivery is closed as released; see "
        "/delivery {id}."
    ),
    "admin.locker_link_live": (
        "⚠️ Delivery #{id} was given locker <b>{locker}</b> at <b>{name}</b>, for which an older Locker Open "
        "request may still be live ({requests}): whoever holds that link could open the locker. The locker "
        "watch reports an open nobody was given a key for."
    ),
    # issue 19: the database is away for a moment (a tap or message is answered at once, nothing done)
    "error.try_again_soon": "I can't get to my records right now. Nothing was changed; please try again in a moment.",
}
