package example.raffle;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.github.heraldpush.herald.Event;
import io.github.heraldpush.herald.Herald;
import io.github.heraldpush.herald.HeraldApiException;
import io.github.heraldpush.herald.HeraldException;
import io.github.heraldpush.herald.Json;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The raffle service's "participate, then notify every viewer" flow, with Herald instead of a
 * hand-written SseEmitter + Redis Pub/Sub relay.
 *
 * <pre>
 * POST /raffles/{id}/entries   body: memberId=42   → 200 {"raffle":7,"entries":3,"odds":0.3333}
 * POST /raffles/{id}/draw                           → 200 {"raffle":7,"winner":42} (closes the topic)
 * GET  /raffles/{id}                                → the page; it opens EventSource on Herald
 * </pre>
 *
 * Every entry publishes the new odds to the topic {@code raffle:{id}}; every viewer of the raffle,
 * connected to any Herald node, gets them. The draw publishes a final event: viewers' streams end.
 *
 * <p>Environment: PORT (default 9998), HERALD_URL (default http://127.0.0.1:8080), HERALD_API_KEY,
 * HERALD_PUBLIC_URL (Herald as browsers reach it, default HERALD_URL).
 */
public final class RaffleApp {
    private static final Pattern PATH = Pattern.compile("^/raffles/(\\d{1,9})(/entries|/draw)?$");
    private static final int MAX_BODY = 4096;

    private final Herald herald;
    private final RaffleStore store = new RaffleStore();
    private final String publicHeraldUrl;

    RaffleApp(Herald herald, String publicHeraldUrl) {
        this.herald = herald;
        this.publicHeraldUrl = publicHeraldUrl;
    }

    public static void main(String[] args) throws IOException {
        String heraldUrl = env("HERALD_URL", "http://127.0.0.1:8080");
        Herald.Builder b = Herald.builder().url(heraldUrl);
        String key = System.getenv("HERALD_API_KEY");
        if (key != null && !key.isEmpty()) {
            b.apiKey(key);
        }
        RaffleApp app = new RaffleApp(b.build(), env("HERALD_PUBLIC_URL", heraldUrl));
        int port = Integer.parseInt(env("PORT", "9998"));
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.createContext("/raffles/", app::handle);
        server.setExecutor(Executors.newFixedThreadPool(8));
        server.start();
        System.out.println("raffle: listening on http://127.0.0.1:" + port + " (Herald at " + heraldUrl + ")");
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? fallback : v;
    }

    void handle(HttpExchange ex) throws IOException {
        try (ex) {
            Matcher m = PATH.matcher(ex.getRequestURI().getPath());
            if (!m.matches()) {
                reply(ex, 404, Map.of("error", "no such raffle path", "code", "not_found"));
                return;
            }
            long raffle = Long.parseLong(m.group(1));
            String action = m.group(2) == null ? "" : m.group(2);
            String method = ex.getRequestMethod();
            if (action.isEmpty() && method.equals("GET")) {
                page(ex, raffle);
            } else if (action.equals("/entries") && method.equals("POST")) {
                participate(ex, raffle);
            } else if (action.equals("/draw") && method.equals("POST")) {
                draw(ex, raffle);
            } else {
                reply(ex, 405, Map.of("error", method + " not allowed here", "code", "method_not_allowed"));
            }
        }
    }

    /** The seed's participateInRaffle: save the entry, then tell every viewer the new odds. */
    private void participate(HttpExchange ex, long raffle) throws IOException {
        long member;
        try {
            member = Long.parseLong(form(ex).getOrDefault("memberId", ""));
        } catch (NumberFormatException | IOException e) {
            reply(ex, 400, Map.of("error", "memberId must be a number", "code", "invalid_form"));
            return;
        }
        RaffleStore.Entry entry = store.participate(raffle, member);
        if (entry == null) {
            reply(ex, 409, Map.of("error", "raffle " + raffle + " is drawn", "code", "raffle_closed"));
            return;
        }
        Map<String, Object> odds = new LinkedHashMap<>();
        odds.put("raffle", raffle);
        odds.put("entries", entry.entries());
        odds.put("odds", entry.odds());
        // Replaces redisOperations.convertAndSend(channel, message) and the listener that
        // relayed it to every SseEmitter of every server.
        try {
            odds.put("eventId", herald.publish(Event.of("raffle:" + raffle, odds).named("odds")));
        } catch (HeraldException e) {
            // The entry is saved; viewers get the next odds. Report, do not fail the entry.
            System.err.println("raffle: publish odds of raffle " + raffle + ": " + e.getMessage());
        }
        reply(ex, 200, odds);
    }

    private void draw(HttpExchange ex, long raffle) throws IOException {
        Long winner = store.draw(raffle);
        if (winner == null) {
            reply(ex, 409, Map.of("error", "raffle " + raffle + " has no entries or is drawn", "code", "raffle_closed"));
            return;
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("raffle", raffle);
        result.put("winner", winner);
        try {
            // final: every viewer gets the winner, then Herald ends their streams for good.
            herald.publish(Event.of("raffle:" + raffle, result).named("drawn").asFinal());
        } catch (HeraldApiException e) {
            reply(ex, 502, Map.of("error", "announce the draw: " + e.getMessage(), "code", e.code()));
            return;
        }
        reply(ex, 200, result);
    }

    private void page(HttpExchange ex, long raffle) throws IOException {
        String html;
        try (InputStream in = RaffleApp.class.getResourceAsStream("raffle.html")) {
            html = in == null ? "raffle.html is missing" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        html = html.replace("{{HERALD_URL}}", Json.write(publicHeraldUrl)).replace("{{RAFFLE}}", Long.toString(raffle));
        byte[] body = html.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
        ex.sendResponseHeaders(200, body.length);
        ex.getResponseBody().write(body);
    }

    private static Map<String, String> form(HttpExchange ex) throws IOException {
        byte[] raw = ex.getRequestBody().readNBytes(MAX_BODY + 1);
        if (raw.length > MAX_BODY) {
            throw new IOException("form too large");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (String pair : new String(raw, StandardCharsets.UTF_8).split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0) {
                out.put(java.net.URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
                        java.net.URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    private static void reply(HttpExchange ex, int status, Map<String, ?> body) throws IOException {
        byte[] b = Json.write(body).getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
    }
}
