package io.github.heraldpush.herald;

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.stream.Stream;

/** Reads a topic's SSE stream from its start until the gateway ends it (tests only). */
final class SseStream {
    /** One received event. */
    record Received(String id, String event, String data) {}

    private SseStream() {}

    static List<Received> readUntilEnd(String baseUrl, String topic) throws Exception {
        String url = baseUrl + "/v1/events?topic=" + URLEncoder.encode(topic, StandardCharsets.UTF_8)
                + "&lastEventID=earliest";
        HttpClient http = HttpClient.newHttpClient();
        HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).build();
        HttpResponse<Stream<String>> resp = http.send(req, HttpResponse.BodyHandlers.ofLines());
        List<Received> out = new ArrayList<>();
        if (resp.statusCode() == 204) {
            return out;
        }
        TestRunner.equal(resp.statusCode(), 200, "stream status");
        String id = null;
        String event = "message";
        StringBuilder data = null;
        try (Stream<String> lines = resp.body()) {
            Iterator<String> it = lines.iterator();
            while (it.hasNext()) {
                String line = it.next();
                if (line.isEmpty()) {
                    if (data != null) {
                        out.add(new Received(id, event, data.toString()));
                    }
                    event = "message";
                    data = null;
                    continue;
                }
                if (line.startsWith(":")) {
                    continue;
                }
                int colon = line.indexOf(':');
                String field = colon < 0 ? line : line.substring(0, colon);
                String value = colon < 0 ? "" : line.substring(colon + 1);
                if (value.startsWith(" ")) {
                    value = value.substring(1);
                }
                switch (field) {
                    case "id" -> id = value;
                    case "event" -> event = value;
                    case "data" -> data = data == null ? new StringBuilder(value) : data.append('\n').append(value);
                    default -> { }
                }
            }
        }
        return out;
    }
}
