"""The agent protocol in one place: message dispatch (dispatch.py), the services behind each
message (services.py), agent and session tokens and boot nonces (tokens.py), and its two
transports, the WebSocket consumer (consumer.py) and REST (rest.py). Discovery enrolment is
plugged in by the netboot app (``dispatch.register_enrolment``)."""
