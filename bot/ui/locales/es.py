"""Spanish (US): informal "tú" throughout, as consumer chat apps in the US address their users.

Words kept the same everywhere: casillero (locker), entrega (a delivery), llave (a key, the QR code),
enlace de recogida (pickup link), repartidor (courier), reserva (the hold), torre (tower).
Same keys and placeholders as English (tests/bot/test_locales.py checks).
"""

from __future__ import annotations

from bot.ui.locales.plural import Plural

ES: dict[str, str | Plural] = {
    # commands (menu descriptions)
    "cmd.start": "Empezar y ver el menú",
    "cmd.dropoff": "Dejar un artículo en un casillero cercano",
    "cmd.my": "Tus entregas abiertas",
    "cmd.jobs": "Recogidas asignadas a ti (repartidores)",
    "cmd.cancel": "Salir del paso actual o cancelar una reserva",
    "cmd.help": "Cómo funciona este bot",
    "cmd.forget": "Borrar lo que este bot guarda sobre ti",
    "cmd.language": "Elegir tu idioma",
    "cmd.lockers": "Admin: casilleros reservados en Harbor",
    "cmd.deliveries": "Admin: entregas recientes [estado]",
    "cmd.delivery": "Admin: una entrega con su historial",
    "cmd.release": "Admin: liberar el casillero de una entrega",
    "cmd.courier": "Admin: courier add|remove <id o @usuario>",
    "cmd.couriers": "Admin: lista de repartidores",
    "cmd.stats": "Admin: las cifras de un vistazo",
    # start / help
    "start.greeting": (
        "¡Hola, {name}! Busco un casillero inteligente libre cerca de ti y te doy su llave.\n"
        "Deja tu artículo y luego pasa la recogida a un amigo, un cliente o un repartidor."
    ),
    "start.menu": "¿Qué quieres hacer?",
    "menu.dropoff": "📦 Dejar un artículo",
    "menu.my": "🗂 Mis entregas",
    "menu.help": "❓ Ayuda",
    "help": (
        "<b>Cómo funciona</b>\n"
        "1. /dropoff y comparte tu ubicación (o escribe <code>lat, lon</code>).\n"
        "2. Elige una ubicación con casilleros cerca de ti y luego un tamaño: te guardo un casillero durante "
        "{hold}.\n"
        "3. En el casillero, toca <b>Obtener llave de entrega</b>. Escanea el código QR con tu app de Harbor y "
        "acerca el teléfono a la torre: la puerta se abre. Mete el artículo y cierra la puerta.\n"
        "4. Me doy cuenta cuando el artículo está dentro y te dejo pasar la recogida: a ti, a cualquier persona "
        "con un enlace de un solo uso o a un repartidor. Esa persona recibe aquí la llave de recogida cuando la "
        "necesite.\n\n"
        "/my muestra tus entregas abiertas, /cancel sale del paso actual o devuelve un casillero reservado, "
        "/language cambia el idioma."
    ),
    # language
    "language.choose": "¿En qué idioma te escribo?",
    "language.set": "Listo, a partir de ahora te escribo en español.",
    # units (format.py)
    "unit.seconds": Plural(one="{count} segundo", other="{count} segundos"),
    "unit.minutes": Plural(one="{count} minuto", other="{count} minutos"),
    "unit.hours": Plural(one="{count} hora", other="{count} horas"),
    "unit.meters": "{value} m",
    "unit.kilometers": "{value} km",
    # privacy
    "forget.confirm": (
        "Esto borra lo que guardo sobre ti: tu nombre, tu usuario y tu idioma, un paso de entrega en curso "
        "(con la ubicación que compartiste) y todo rastro tuyo en las entregas terminadas (llaves, enlaces, "
        "historial y avisos enviados). Las entregas que siguen abiertas conservan lo que necesitan hasta que "
        "terminen. ¿Seguimos?"
    ),
    "forget.button": "🗑 Sí, olvídame",
    "forget.done": "Listo: borré lo que guardaba sobre ti.",
    "forget.kept": (
        "Tus entregas abiertas {ids} conservan tu id de Telegram (tu nombre queda en blanco) hasta que "
        "terminen; después usa /forget otra vez."
    ),
    "forget.again": "Si me vuelves a escribir, volveré a saber tu nombre por ese mensaje.",
    # drop-off conversation
    "dropoff.share_button": "📍 Compartir mi ubicación",
    "dropoff.searching": "Buscando casilleros libres cerca de ti…",
    "dropoff.directions_button": "🧭 Cómo llegar",
    "dropoff.nearby_header": "Casilleros libres a menos de {radius} km:",
    "dropoff.nearby_item": "<b>{index}. {name}</b> — {distance}\n{address}\n{sizes}",
    "dropoff.nearby_footer": "Toca una ubicación para elegir el tamaño.",
    "dropoff.location_button": "📍 {name} ({distance})",
    "dropoff.nothing_nearby": (
        "No encontré casilleros libres a menos de {radius} km de ese lugar. Comparte otra ubicación para "
        "intentarlo de nuevo, o /cancel."
    ),
    "dropoff.choose_size": "<b>{name}</b>\n{address}\n\n¿Qué tamaño de casillero necesitas?",
    "dropoff.size_button": "{size} — {free} libres",
    "dropoff.back_button": "⬅ Otras ubicaciones",
    "dropoff.no_sizes": "<b>{name}</b> no tiene casilleros libres ahora. Elige otra ubicación o comparte una nueva.",
    "dropoff.remind_choose_size": "Toca uno de los tamaños de arriba, o /cancel.",
    "dropoff.size_ran_out": "Acaban de ocuparse todos los casilleros {size} de <b>{name}</b>.",
    "dropoff.sizes_still_free": "Todavía libres allí:",
    "dropoff.reserved": (
        "✅ El casillero <b>{locker}</b> ({size}) está reservado para ti en <b>{name}</b>, {address}.\n"
        "La reserva termina a las <b>{until}</b>.\n\n"
        "Cuando estés en el casillero, toca <b>Obtener llave de entrega</b>."
    ),
    "dropoff.key_button": "🔑 Obtener llave de entrega",
    "dropoff.new_key_button": "🔑 Nueva llave de entrega",
    "dropoff.cancel_button": "✖ Cancelar",
    "dropoff.hold_expired": (
        "⌛ La reserva del casillero <b>{locker}</b> en <b>{name}</b> terminó sin usarse, así que el casillero "
        "se devolvió. /dropoff para empezar de nuevo."
    ),
    "dropoff.hold_limit": (
        "⌛ El casillero <b>{locker}</b> en <b>{name}</b> ya estuvo reservado para ti el máximo que permite una "
        "reserva, así que lo devolví. /dropoff para empezar de nuevo cuando estés en los casilleros."
    ),
    "dropoff.already_open": (
        "Ya tienes una entrega en curso: casillero <b>{locker}</b> ({size}) en <b>{name}</b>, {state}."
    ),
    "dropoff.resume_button": "↩ Continuarla",
    "dropoff.start_over_button": "🆕 Cancelarla y empezar de nuevo",
    "dropoff.cancelled": "Cancelado: el casillero <b>{locker}</b> en <b>{name}</b> se devolvió.",
    "dropoff.left": "Bien, lo dejamos aquí. /dropoff cuando quieras empezar de nuevo.",
    "dropoff.nothing_to_cancel": "No hay nada que cancelar. /dropoff para dejar un artículo.",
    "dropoff.item_inside": "Tu artículo ya está en el casillero <b>{locker}</b>; ya no se puede cancelar.",
    "dropoff.locker_lost": (
        "Lo siento, otra persona ocupó el casillero <b>{locker}</b> en <b>{name}</b> después de que venciera tu "
        "llave. /dropoff para buscar otro."
    ),
    # handover (sender's side)
    "handover.link_button": "🔗 Compartir un enlace de recogida",
    "handover.self_button": "🙋 Lo recojo yo",
    "handover.courier_button": "🚚 Enviar a un repartidor",
    "handover.link_created": (
        "Envía este enlace de un solo uso a la persona que va a recoger el artículo. La primera persona que lo "
        "abra será quien lo recoja; funciona hasta {until}.\n\n{url}"
    ),
    "handover.revoke_button": "🚫 Anular el enlace",
    "handover.new_link_button": "🔁 Nuevo enlace",
    "handover.link_expired": (
        "⌛ Nadie abrió a tiempo tu enlace de recogida del casillero <b>{locker}</b> en <b>{name}</b>, así que "
        "ya no funciona. Elige abajo cómo se recoge el artículo."
    ),
    "handover.revoked": "El enlace de recogida ya no funciona. Puedes crear uno nuevo cuando quieras.",
    "handover.claimed_sender": ("🔗 {who} abrió tu enlace de recogida y recogerá el artículo del casillero {locker}."),
    "handover.previous_key_live": (
        "Ojo: {who} todavía tiene una llave de recogida que abre el casillero hasta {until}; la red de "
        "casilleros no puede anularla."
    ),
    "handover.courier_gone": (
        "🚚 {who} ya no es repartidor de este servicio, así que nadie está recogiendo la entrega #{id} "
        "(casillero {locker}) ahora. Elige abajo quién la recoge."
    ),
    "handover.collector_has_key": (
        "{who} tiene una llave de recogida del casillero <b>{locker}</b> que funciona hasta <b>{until}</b>. La "
        "red de casilleros no puede anularla: si pasas el artículo ahora, {who} aún podría abrir el casillero "
        "hasta entonces. ¿Esperas hasta {until} o lo pasas ahora?"
    ),
    "handover.wait_button": "⏳ Espero",
    "handover.anyway_button": "➡ Pasarlo ahora",
    "handover.waiting": "Bien, no cambió nada. Después de {until}, vuelve a elegir desde /my.",
    "handover.self_done": "Bien, lo recoges tú.",
    "handover.choose_courier": "¿Qué repartidor debe recogerlo?",
    "handover.no_couriers": "Todavía no hay repartidores registrados. Comparte un enlace de recogida.",
    "handover.courier_assigned_sender": "🚚 {who} recogerá el artículo del casillero {locker}.",
    "handover.not_a_courier": "Esa persona ya no es repartidor. Elige otro.",
    "handover.own_link": "Este es tu propio enlace de recogida. Envíaselo a quien va a recoger el artículo.",
    "handover.link_refused": "Lo siento, este enlace no funciona: puede que ya se haya usado o que haya vencido.",
    # collecting (recipient's and courier's side)
    "pickup.waiting": (
        "📦 Un artículo te espera en el casillero <b>{locker}</b> ({size}) en <b>{name}</b>, {address}.\n"
        "Recógelo en un plazo de {stay}, por favor.\n\n"
        "Cuando estés en el casillero, toca <b>Obtener llave de recogida</b>."
    ),
    "pickup.courier_job": "🚚 Nuevo trabajo de recogida #{id} de {sender}.",
    "pickup.key_button": "🔑 Obtener llave de recogida",
    "pickup.new_key_button": "🔑 Nueva llave de recogida",
    "pickup.completed_collector": "✅ Recogido del casillero {locker} en {name}. ¡Gracias!",
    "pickup.reminder_collector": (
        "⏰ Recordatorio: un artículo todavía te espera en el casillero <b>{locker}</b> en <b>{name}</b>, {address}."
    ),
    "pickup.reminder_sender": (
        "⏰ Tu artículo del casillero <b>{locker}</b> en <b>{name}</b> todavía no se ha recogido."
    ),
    "pickup.unassigned": (
        "La entrega #{id} (casillero {locker} en {name}) ya no te toca recogerla: el remitente se la pasó a "
        "otra persona."
    ),
    "pickup.unassigned_key_live": (
        "Quité tu llave de recogida de este chat; por favor no la uses. La red de casilleros no puede anular "
        "una llave, así que seguiría abriendo el casillero hasta {until}."
    ),
    "pickup.released": (
        "El servicio liberó el casillero <b>{locker}</b> en <b>{name}</b>; la entrega #{id} está cerrada."
    ),
    "jobs.none": "No tienes recogidas abiertas.",
    "jobs.not_courier": "/jobs es para repartidores. Pide al servicio que te registre.",
    "jobs.header": "Tus recogidas abiertas:",
    "dropoff.already_reserving": "Ya tienes un casillero reservado; mira el mensaje de abajo.",
    # keys
    "key.dropoff_caption": (
        "🔑 <b>Llave de entrega</b> — casillero <b>{locker}</b> ({size})\n"
        "{name}, {address}\n"
        "Válida hasta <b>{until}</b>.\n\n"
        "Abre tu app de Harbor, escanea este código y acerca el teléfono a la torre: se abre el casillero "
        "{locker}. Mete el artículo y cierra la puerta. No compartas este código."
    ),
    "key.pickup_caption": (
        "🔑 <b>Llave de recogida</b> — casillero <b>{locker}</b> ({size})\n"
        "{name}, {address}\n"
        "Válida hasta <b>{until}</b>.\n\n"
        "Abre tu app de Harbor, escanea este código y acerca el teléfono a la torre: se abre el casillero "
        "{locker}. Saca el artículo y cierra la puerta. No compartas este código."
    ),
    "key.expired": "⌛ Tu llave {kind} del casillero <b>{locker}</b> en <b>{name}</b> venció sin usarse.",
    "key.expired_closed": "⌛ Tu llave {kind} del casillero <b>{locker}</b> venció.",
    "key.kind.dropoff": "de entrega",
    "key.kind.pickup": "de recogida",
    "key.still_valid": "Tu llave de arriba sigue siendo válida hasta {until}. Sube hasta el código QR.",
    "key.private_only": (
        "Por tu seguridad, solo envío llaves en nuestro chat privado. Abre un chat conmigo e inténtalo allí."
    ),
    # Locker Open links (KEY_MODE=link)
    "key.link_dropoff_caption": (
        "🔑 <b>Enlace de entrega</b> — casillero <b>{locker}</b> ({size})\n"
        "{name}, {address}\n"
        "Reservado para ti hasta <b>{until}</b>.\n\n"
        "En la torre, toca <b>Abrir casillero</b> abajo: la app Locker Open de Harbor abre el casillero "
        "{locker} (en Android, instala Locker Open primero). O escanea este código con otro teléfono. "
        "Mete el artículo y cierra la puerta. No compartas este enlace."
    ),
    "key.link_pickup_caption": (
        "🔑 <b>Enlace de recogida</b> — casillero <b>{locker}</b> ({size})\n"
        "{name}, {address}\n"
        "Válido hasta <b>{until}</b>.\n\n"
        "En la torre, toca <b>Abrir casillero</b> abajo: la app Locker Open de Harbor abre el casillero "
        "{locker} (en Android, instala Locker Open primero). O escanea este código con otro teléfono. "
        "Saca el artículo y cierra la puerta. No compartas este enlace."
    ),
    "key.open_button": "🔓 Abrir casillero {locker}",
    "dropoff.link_held": (
        "✅ El casillero <b>{locker}</b> ({size}) está reservado para ti en <b>{name}</b>, {address}, hasta "
        "<b>{until}</b>.\n\n"
        "Tu enlace de entrega está abajo: ábrelo cuando estés en el casillero."
    ),
    "link.no_locker": (
        "No hay ningún casillero {size} libre en <b>{name}</b> ahora, así que no pude crear un enlace nuevo."
    ),
    "web.return_title": "Harbor Lockers",
    "web.return_page": "¡Gracias! Ya puedes volver a Telegram: allí te cuento cómo salió.",
    "web.return_button": "Volver a Telegram",
    # "It didn't fit"
    "fit.button": "📦 No cupo",
    "fit.confirm": (
        "Harbor ve el casillero <b>{locker}</b> como ocupado. ¿Está vacío, sacaste tu artículo? Solo entonces "
        "lo devuelvo y te busco uno más grande."
    ),
    "fit.confirm_yes": "✅ Sí, está vacío",
    "fit.confirm_no": "↩ No, mi artículo está dentro",
    "fit.moved": (
        "📦 El casillero <b>{old}</b> ({old_size}) se devolvió. El casillero <b>{locker}</b> ({size}) en "
        "<b>{name}</b> ahora es tuyo; tu nueva llave está abajo."
    ),
    "fit.no_bigger": (
        "No hay ningún casillero más grande libre en <b>{name}</b> ahora. Tu casillero <b>{locker}</b> sigue "
        "siendo tuyo."
    ),
    "fit.nearby_button": "📍 Otras ubicaciones cercanas",
    "fit.size_button": "{size} — {free} libres",
    # watching
    "watch.in_locker": (
        "📦 Tu artículo está en el casillero <b>{locker}</b> en <b>{name}</b>, {address}.\n"
        "¿Quién lo recoge? Elige abajo."
    ),
    "watch.completed_sender": (
        "✅ La entrega #{id} está completa: el artículo se recogió del casillero {locker} en {name}."
    ),
    # /my
    "my.none": "No tienes entregas abiertas. /dropoff para empezar una.",
    "my.header": "Tus entregas abiertas:",
    "my.item": "<b>#{id}</b> · {name} · casillero {locker} ({size}) · {state}",
    "state.draft": "en preparación",
    "state.reserved": "reservada hasta {until}",
    "state.awaiting_dropoff": "esperando que dejes el artículo",
    "state.in_locker": "en el casillero",
    "state.awaiting_pickup": "esperando la recogida",
    "state.completed": "completada",
    "state.cancelled": "cancelada",
    "state.expired": "vencida",
    "state.released": "liberada por el servicio",
    # problems
    "error.harbor_down": (
        "La red de casilleros no responde en este momento. No cambió nada de tu lado; inténtalo de nuevo en un minuto."
    ),
    "error.retry_button": "🔁 Reintentar",
    "error.stale_button": "Este botón ya no está activo.",
    "error.moved_on": "Esta entrega ya avanzó: así está ahora.",
    "error.not_found": "No encuentro esa entrega. /my muestra las tuyas.",
    "error.wrong_state": "Eso ya no es posible: esta entrega está {state}.",
    "error.location_gone": (
        "Esa ubicación ya no está disponible. Vuelve a compartir tu ubicación para ver qué hay cerca."
    ),
    "error.unexpected": "Algo falló de mi lado. No se perdió nada; inténtalo de nuevo.",
    "fallback.message": (
        "No te entendí. /dropoff para dejar un artículo, /my para ver tus entregas, /help para la ayuda."
    ),
    "fallback.group": "Háblame en un chat privado, por favor.",
    "throttle.slow_down": (
        "Me envías mensajes más rápido de lo que puedo responder. Ve más despacio; me saltaré algunos."
    ),
    "throttle.searches": "Son muchas búsquedas en poco tiempo. Espera un minuto y luego comparte tu ubicación.",
    # admin
    "admin.only": "Este comando es para los administradores del servicio.",
    "admin.private_only": "Los comandos de administración solo funcionan en un chat privado conmigo.",
    "admin.truncated": Plural(one="… {count} línea más sin mostrar.", other="… {count} líneas más sin mostrar."),
    "admin.actor_system": "sistema",
    "admin.nobody": "—",
    "admin.collector": "{who} ({kind})",
    "admin.lockers_none": "El servicio no tiene casilleros reservados en Harbor ahora.",
    "admin.lockers_header": "<b>Casilleros reservados en Harbor: {count}</b> · sin entrega abierta: {orphans}",
    "admin.locker_line": (
        "<b>{locker}</b> ({size}) · torre <code>{tower}</code> · {status} — entrega #{id}, {state}, {name}"
    ),
    "admin.locker_orphan": "⚠️ <b>{locker}</b> ({size}) · torre <code>{tower}</code> · {status} — sin entrega abierta",
    "admin.more_orphans": (
        "Solo se muestran botones para liberar los primeros {shown}; /lockers otra vez para el resto."
    ),
    "admin.release_locker_button": "🔓 Liberar {locker} (torre {tower})",
    "admin.locker_released": "✅ El casillero con id {locker} de la torre <code>{tower}</code> se liberó en Harbor.",
    "admin.locker_in_use": (
        "El casillero {locker} de la torre <code>{tower}</code> ahora pertenece a la entrega #{id}; "
        "/release {id} la cierra."
    ),
    "admin.deliveries_none": "Todavía no hay entregas.",
    "admin.deliveries_none_state": "No hay entregas en el estado <i>{state}</i>.",
    "admin.deliveries_header": "<b>Entregas</b> (las últimas {count}, las más nuevas primero):",
    "admin.deliveries_header_state": (
        "<b>Entregas en el estado <i>{state}</i></b> (las últimas {count}, las más nuevas primero):"
    ),
    "admin.delivery_line": (
        "<b>#{id}</b> <i>{state}</i> · {name} · casillero {locker} ({size})\n    {created} · de {sender}"
    ),
    "admin.deliveries_footer": "/delivery &lt;id&gt; muestra una entrega con su historial.",
    "admin.delivery_usage": "Uso: /delivery &lt;id&gt;, por ejemplo /delivery 42.",
    "admin.delivery_not_found": "No existe la entrega #{id}.",
    "admin.delivery_card": (
        "<b>Entrega #{id}</b> · <i>{state}</i>\n"
        "{name}, {address}\n"
        "Casillero {locker} ({size}) · torre <code>{tower}</code>\n"
        "Remitente: {sender}\n"
        "Quien recoge: {collector}\n"
        "Creada {created} · actualizada {updated}\n"
        "Las horas están en {tz}."
    ),
    "admin.events_header": "<b>Eventos</b> ({count}):",
    "admin.events_none": "No hay eventos registrados.",
    "admin.event_line": "{at} · {actor} · <b>{kind}</b>",
    "admin.event_line_detail": "{at} · {actor} · <b>{kind}</b> — {detail}",
    "admin.release_usage": "Uso: /release &lt;id&gt;, por ejemplo /release 42.",
    "admin.release_not_open": "La entrega #{id} ya está <i>{state}</i>: no hay nada que liberar.",
    "admin.released": (
        "✅ La entrega #{id} se cerró como <i>{state}</i>: el casillero {locker} en {name} se liberó en "
        "Harbor y se avisó a las personas involucradas."
    ),
    "admin.notify_failed": "No pude escribirle al usuario {who} (quizá bloqueó el bot).",
    "admin.courier_usage": (
        "Uso: /courier add &lt;id de usuario o @usuario&gt; o /courier remove &lt;id de usuario o @usuario&gt;."
    ),
    "admin.unknown_user": "No conozco a {ref}: primero debe iniciar el bot con /start y luego lo intentas de nuevo.",
    "admin.courier_added": "🚚 {who} ahora es repartidor.",
    "admin.courier_already": "{who} ya es repartidor.",
    "admin.courier_removed": "{who} ya no es repartidor.",
    "admin.courier_not": "{who} no es repartidor.",
    "admin.courier_open_jobs": Plural(
        one="Su recogida abierta {ids} volvió a su remitente, a quien se avisó y puede volver a elegir.",
        other=(
            "Sus {count} recogidas abiertas {ids} volvieron a los remitentes, a quienes se avisó y pueden volver "
            "a elegir."
        ),
    ),
    "admin.courier_unreachable": "No pude escribirle (quizá bloqueó el bot).",
    "admin.courier_welcome": (
        "🚚 Ahora eres repartidor de este servicio. Cuando un remitente te pase una recogida, te enviaré los "
        "detalles aquí; /jobs muestra tus recogidas abiertas."
    ),
    "admin.courier_goodbye": "Ya no eres repartidor de este servicio.",
    "admin.couriers_none": "Todavía no hay repartidores. /courier add &lt;id de usuario o @usuario&gt; agrega uno.",
    "admin.couriers_header": "<b>Repartidores</b> ({count}):",
    "admin.courier_line": "• {who} · id <code>{id}</code>",
    "admin.stats": (
        "<b>Estadísticas</b>\n\n"
        "<b>Entregas por estado</b> (creadas hoy desde las 00:00 UTC · en los últimos 7 días):\n{states}\n\n"
        "Mediana desde que se deja hasta que se recoge (últimos 7 días): {median}\n"
        "Casilleros reservados en Harbor ahora: {held}"
    ),
    "admin.stats_state_line": "<i>{state}</i>: {today} · {week}",
    "admin.stats_total": "<b>total</b>: {today} · {week}",
    "admin.stats_no_deliveries": "no hay entregas en los últimos 7 días",
    "admin.stats_median": Plural(one="{median} ({count} recogida)", other="{median} ({count} recogidas)"),
    "admin.stats_no_pickups": "todavía no hay recogidas",
    "admin.stats_unknown": "desconocido (Harbor no responde)",
    # issue 16 (x16b): admins find deliveries by person or locker, read states in words, confirm releases
    "admin.state.draft": "en preparación",
    "admin.state.reserved": "reservada",
    "admin.state.awaiting_dropoff": "esperando que dejen el artículo",
    "admin.state.in_locker": "en el casillero",
    "admin.state.awaiting_pickup": "esperando la recogida",
    "admin.state.completed": "completada",
    "admin.state.cancelled": "cancelada",
    "admin.state.expired": "vencida",
    "admin.state.released": "liberada",
    "admin.search_header_person": "<b>Entregas de {who}</b> (las últimas {count}, las más nuevas primero):",
    "admin.search_header_name": (
        "<b>Entregas de personas cuyo nombre contiene “{given}”</b> ({who}; las últimas {count}, las más nuevas "
        "primero):"
    ),
    "admin.search_header_locker": (
        "<b>Entregas en el casillero {given}</b> (las últimas {count}, las más nuevas primero):"
    ),
    "admin.search_none_person": "{who} no tiene entregas.",
    "admin.search_none_name": (
        "Nadie cuyo nombre contenga “{given}” tiene una entrega, y ningún estado se llama así.\n{usage}"
    ),
    "admin.search_none_locker": "No hay entregas en el casillero {given}.",
    "admin.deliveries_usage": (
        "/deliveries muestra las últimas entregas; fíltralas con un estado (<i>{states}</i>), una persona "
        "(@usuario, un id de usuario o parte de un nombre) o un casillero (<code>casillero 57</code>, "
        "<code>casillero TORRE/57</code>)."
    ),
    "admin.release_confirm": (
        "⚠️ La entrega #{id} tiene un artículo en el casillero <b>{locker}</b> en {name} ({state}). Liberarlo "
        "deja el casillero libre en Harbor y cierra la entrega: quien abra la puerta después podría llevarse el "
        "artículo. Se avisará a quien lo envió y a quien lo recoge. ¿Lo libero?"
    ),
    "admin.release_confirm_yes": "🔓 Sí, liberar #{id}",
    "admin.release_confirm_no": "Mejor no",
    "admin.release_kept": "No se liberó nada: la entrega #{id} sigue {state}.",
    "admin.release_changed": "La entrega #{id} cambió desde que te pregunté: ahora está {state}.",
    # issue 17: encontrar un casillero desde cualquier dispositivo (lugares escritos, tus lugares, tamaños)
    "dropoff.ask_place": (
        "¿Dónde estás? Toca <b>Compartir mi ubicación</b> abajo, o escribe dónde quieres dejar el paquete: "
        "el nombre de una ubicación, una calle, una ciudad o un código postal (como "
        "<code>Mission St</code>, <code>Austin</code> o <code>94103</code>), o coordenadas como "
        "<code>37.7793, -122.4193</code>."
    ),
    "dropoff.remind_place": (
        "Necesito un lugar para buscar casilleros: toca <b>Compartir mi ubicación</b>, o escribe el nombre de "
        "una ubicación, una calle, una ciudad o un código postal, o coordenadas como "
        "<code>37.7793, -122.4193</code>. /cancel para parar."
    ),
    "dropoff.remind_choose_place": (
        "Toca una de las ubicaciones de arriba, o escribe o comparte otro lugar para buscar de nuevo. "
        "/cancel para parar."
    ),
    "dropoff.searching_for": "Buscando «{query}»…",
    "dropoff.found_header": "Ubicaciones que coinciden con «{query}»:",
    "dropoff.found_item": "<b>{index}. {name}</b>\n{address}\n{sizes}",
    "dropoff.found_button": "📍 {name}",
    "dropoff.found_full": "Ahora no hay casilleros libres en: {names}.",
    "dropoff.found_more": Plural(
        one="Coincide {count} ubicación más: escribe más de su nombre, calle o código postal para verla.",
        other="Coinciden {count} ubicaciones más: escribe más del nombre, la calle o el código postal para afinar.",
    ),
    "dropoff.found_footer": "Toca una ubicación para elegir el tamaño, o escribe otro lugar para buscar de nuevo.",
    "dropoff.nothing_found": (
        "No encontré ninguna ubicación de casilleros que coincida con «{query}». Prueba con el nombre de una "
        "ubicación (como <code>Civic Center</code>), una calle (<code>Mission St</code>), una ciudad "
        "(<code>Austin</code>) o un código postal (<code>94103</code>), o comparte tu ubicación."
    ),
    "dropoff.all_full": (
        "«{query}» coincide con {names}, pero ahora no hay ningún casillero libre allí. Prueba con otro lugar, "
        "o comparte tu ubicación para buscar cerca."
    ),
    "dropoff.places_prompt": "O toca un lugar que ya usaste:",
    "dropoff.place_button": "⭐ {name}",
    "dropoff.out_of_range": (
        "Esas coordenadas están fuera de rango: la latitud va de -90 a 90 y la longitud de -180 a 180, "
        "como <code>37.7793, -122.4193</code>."
    ),
    "dropoff.size_line": "• {size}",
    "dropoff.held_size": "📦 {size}",
    "dropoff.geocoded": "Ninguna ubicación se llama «{query}», así que busqué casilleros cerca de esa dirección.",
    "dropoff.list_loading": (
        "Todavía estoy cargando la lista de ubicaciones de casilleros: envíalo de nuevo en un momento."
    ),
    "size.dims": "hasta {dims} {unit}",
    "size.name.small": "pequeño",
    "size.name.medium": "mediano",
    "size.name.large": "grande",
    "size.name.x-large": "extragrande",
    "size.use.small": "documentos, móviles, paquetes pequeños",
    "size.use.medium": "cajas de zapatos, la mayoría de los paquetes",
    "size.use.large": "mochilas, maletas de cabina",
    "size.use.x-large": "maletas, equipo deportivo",
    "forget.no_button": "✖ No, déjalo",
    "forget.kept_all": "Vale, no olvidé nada.",
    "my.finished_header": "Terminadas hace poco:",
    "my.finished_item": "✔ <b>#{id}</b> · {name} · casillero {locker} ({size}) · {state}",
    "handover.revoke_finished": (
        "La entrega #{id} ya está {state}: su enlace de recogida ya no funciona, así que no hay nada que anular."
    ),
    # issue 15: link-mode keys that outlive the bot's records
    "fit.moved_link_live": (
        "📦 El casillero <b>{old}</b> ({old_size}) sigue reservado unos minutos, hasta que Harbor termine la "
        "reserva de su enlace: por favor no uses ese enlace. El casillero <b>{locker}</b> ({size}) en "
        "<b>{name}</b> ahora es tuyo; tu nuevo enlace está abajo."
    ),
    "key.link_pickup_caption_live": (
        "🔑 <b>Enlace de recogida</b> — casillero <b>{locker}</b> ({size})\n"
        "{name}, {address}\n"
        "Este enlace abre el casillero una vez y funciona hasta que se usa: la red de casilleros no puede "
        "anularlo. Si lo pierdes, toca <b>Nueva llave de recogida</b> y te envío el mismo enlace otra vez.\n\n"
        "En la torre, toca <b>Abrir casillero</b> abajo: la app Locker Open de Harbor abre el casillero "
        "{locker} (en Android, instala Locker Open primero). O escanea este código con otro teléfono. "
        "Saca el artículo y cierra la puerta. No compartas este enlace."
    ),
    "key.link_expired_live": (
        "⌛ Quité de este chat tu enlace de {kind} del casillero <b>{locker}</b> en <b>{name}</b>. La red de "
        "casilleros no puede anular un enlace de Locker Open, así que podría seguir abriendo el casillero "
        "hasta que se use; toca abajo y te envío el mismo enlace otra vez."
    ),
    "handover.collector_has_link": (
        "{who} tiene un enlace de Locker Open para el casillero <b>{locker}</b>. La red de casilleros no "
        "puede anularlo y funciona hasta que se usa: si entregas el artículo a otra persona ahora, {who} "
        "todavía podría abrir el casillero. La nueva persona recibe el mismo enlace, y quien lo use primero "
        "se lo lleva. ¿Lo entregas ahora?"
    ),
    "handover.previous_link_live": (
        "Ojo: {who} todavía tiene un enlace de Locker Open para este casillero; la red de casilleros no "
        "puede anularlo, así que abre el casillero hasta que se use."
    ),
    "pickup.unassigned_link_live": (
        "Quité tu enlace de recogida de este chat; por favor no lo uses. La red de casilleros no puede "
        "anular un enlace de Locker Open: seguiría abriendo el casillero hasta que se use."
    ),
    "link.locker_in_use": (
        "Harbor ofreció el casillero <b>{locker}</b> para tu nuevo enlace, pero otra entrega todavía lo usa, "
        "así que no te lo envié. Tu entrega no cambió: inténtalo de nuevo en un minuto."
    ),
    "watch.opened_without_key_sender": (
        "⚠️ El casillero <b>{locker}</b> en <b>{name}</b> (entrega #{id}) se abrió aunque no le di una llave "
        "a nadie, y ahora está vacío. Ya avisé a los administradores del servicio."
    ),
    "watch.opened_without_key_admin": (
        "⚠️ Entrega #{id}: el casillero <b>{locker}</b> en <b>{name}</b> se abrió sin una llave que yo haya "
        "dado (puede que un enlace de Locker Open anterior siguiera activo). La entrega se cerró como "
        "liberada; mira /delivery {id}."
    ),
    "admin.locker_link_live": (
        "⚠️ A la entrega #{id} le tocó el casillero <b>{locker}</b> en <b>{name}</b>, para el que una "
        "solicitud de Locker Open anterior podría seguir activa ({requests}): quien tenga ese enlace podría "
        "abrir el casillero. La vigilancia de casilleros avisa si se abre sin una llave dada."
    ),
    # issue 19: the database is away for a moment (a tap or message is answered at once, nothing done)
    "error.try_again_soon": (
        "Ahora mismo no puedo consultar mis registros. No se cambió nada; inténtalo de nuevo en un momento."
    ),
}
