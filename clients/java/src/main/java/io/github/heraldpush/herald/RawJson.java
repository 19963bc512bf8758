package io.github.heraldpush.herald;

/**
 * JSON text that {@link Json#write} inserts verbatim: event data you serialised yourself (with
 * Jackson, Gson, kotlinx.serialization…). The text is checked to be one valid JSON value when
 * the RawJson is made.
 *
 * @param text one JSON value
 */
public record RawJson(String text) {
    /** Checks that text is one JSON value; throws IllegalArgumentException otherwise. */
    public RawJson {
        if (text == null) {
            throw new IllegalArgumentException("RawJson text is null");
        }
        Json.parse(text);
    }

    /** Returns a RawJson of text; see the constructor. */
    public static RawJson of(String text) {
        return new RawJson(text);
    }
}
