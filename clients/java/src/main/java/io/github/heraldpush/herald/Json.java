package io.github.heraldpush.herald;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The client's own small JSON writer and reader (the client depends on nothing beyond the JDK).
 *
 * <p>{@link #write} accepts exactly these types, nested to any depth (at most {@value #MAX_DEPTH}
 * levels):
 *
 * <ul>
 *   <li>{@code null} → {@code null}
 *   <li>{@link CharSequence}, {@link Character}, {@link Enum} (its {@code name()}) → a string
 *   <li>{@link Boolean} → {@code true}/{@code false}
 *   <li>{@link Integer}, {@link Long}, {@link Short}, {@link Byte}, {@link BigInteger},
 *       {@link BigDecimal}, and finite {@link Double}/{@link Float} → a number (NaN and
 *       infinities are refused)
 *   <li>{@link Map} whose keys are all {@link CharSequence} → an object, in the map's iteration
 *       order
 *   <li>{@link Iterable} (any {@code List}, {@code Set}, …) and {@code Object[]} → an array
 *   <li>{@code int[]}, {@code long[]}, {@code double[]}, {@code boolean[]} → an array
 *   <li>{@link RawJson} → its text, verbatim
 * </ul>
 *
 * Anything else (a POJO, a {@code Date}, a map with non-string keys, a cycle) is refused with an
 * {@link IllegalArgumentException} that names the path of the value, e.g. {@code $.items[2]}.
 * Convert such values first, or pass JSON text you made with your own library as {@link
 * RawJson}.
 *
 * <p>{@link #parse} reads one JSON value into {@code null}, {@link String}, {@link Boolean},
 * {@link BigDecimal} (every number), {@code List<Object>} and {@code Map<String, Object>}
 * (insertion-ordered); it refuses anything but one value surrounded by white space.
 */
public final class Json {
    /** The deepest nesting {@link #write} and {@link #parse} accept. */
    public static final int MAX_DEPTH = 512;

    private Json() {}

    /** Returns the compact JSON text of value; see the class comment for the accepted types. */
    public static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        new Writer(sb).value(value, "$", 0);
        return sb.toString();
    }

    /** Parses one JSON value; throws IllegalArgumentException on malformed text. */
    public static Object parse(String text) {
        Reader r = new Reader(text);
        r.space();
        Object v = r.value(0);
        r.space();
        if (r.pos != text.length()) {
            throw r.error("unexpected text after the value");
        }
        return v;
    }

    private static final class Writer {
        private final StringBuilder sb;
        private final Map<Object, Boolean> open = new IdentityHashMap<>();

        Writer(StringBuilder sb) {
            this.sb = sb;
        }

        void value(Object v, String path, int depth) {
            if (depth > MAX_DEPTH) {
                throw new IllegalArgumentException("JSON data nested deeper than " + MAX_DEPTH + " at " + path);
            }
            if (v == null) {
                sb.append("null");
            } else if (v instanceof RawJson raw) {
                sb.append(raw.text());
            } else if (v instanceof CharSequence || v instanceof Character) {
                string(v.toString());
            } else if (v instanceof Enum<?> e) {
                string(e.name());
            } else if (v instanceof Boolean b) {
                sb.append(b.booleanValue());
            } else if (v instanceof Integer || v instanceof Long || v instanceof Short
                    || v instanceof Byte || v instanceof BigInteger) {
                sb.append(v);
            } else if (v instanceof BigDecimal d) {
                sb.append(d.toString());
            } else if (v instanceof Double || v instanceof Float) {
                double d = ((Number) v).doubleValue();
                if (Double.isNaN(d) || Double.isInfinite(d)) {
                    throw new IllegalArgumentException("JSON has no " + d + " (at " + path + ")");
                }
                if (d == Math.rint(d) && Math.abs(d) < 1e15) {
                    sb.append((long) d); // 2.0 → 2
                } else {
                    // A float's own shortest form: 0.1f is 0.1, not 0.10000000149011612.
                    sb.append(v instanceof Float f ? Float.toString(f) : Double.toString(d));
                }
            } else if (v instanceof Map<?, ?> m) {
                enter(v, path);
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (!(e.getKey() instanceof CharSequence key)) {
                        throw new IllegalArgumentException("map key " + e.getKey() + " at " + path
                                + " is not a string");
                    }
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    string(key.toString());
                    sb.append(':');
                    value(e.getValue(), path + "." + key, depth + 1);
                }
                sb.append('}');
                open.remove(v);
            } else if (v instanceof Iterable<?> it) {
                enter(v, path);
                sb.append('[');
                int i = 0;
                for (Object o : it) {
                    if (i > 0) {
                        sb.append(',');
                    }
                    value(o, path + "[" + i + "]", depth + 1);
                    i++;
                }
                sb.append(']');
                open.remove(v);
            } else if (v instanceof Object[] arr) {
                enter(v, path);
                value(java.util.Arrays.asList(arr), path, depth);
                open.remove(v);
            } else if (v instanceof int[] a) {
                value(java.util.Arrays.stream(a).boxed().toList(), path, depth);
            } else if (v instanceof long[] a) {
                value(java.util.Arrays.stream(a).boxed().toList(), path, depth);
            } else if (v instanceof double[] a) {
                value(java.util.Arrays.stream(a).boxed().toList(), path, depth);
            } else if (v instanceof boolean[] a) {
                List<Boolean> l = new ArrayList<>(a.length);
                for (boolean b : a) {
                    l.add(b);
                }
                value(l, path, depth);
            } else {
                throw new IllegalArgumentException("cannot write a " + v.getClass().getName() + " as JSON (at "
                        + path + "); see Json's documentation for the accepted types, or pass RawJson");
            }
        }

        private void enter(Object v, String path) {
            if (open.put(v, Boolean.TRUE) != null) {
                throw new IllegalArgumentException("JSON data contains itself at " + path);
            }
        }

        private void string(String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> sb.append("\\\"");
                    case '\\' -> sb.append("\\\\");
                    case '\n' -> sb.append("\\n");
                    case '\r' -> sb.append("\\r");
                    case '\t' -> sb.append("\\t");
                    case '\b' -> sb.append("\\b");
                    case '\f' -> sb.append("\\f");
                    default -> {
                        // Control characters, and U+2028/2029, which some JavaScript parsers mind.
                        if (c < 0x20 || c == '\u2028' || c == '\u2029') {
                            sb.append(String.format("\\u%04x", (int) c));
                        } else {
                            sb.append(c);
                        }
                    }
                }
            }
            sb.append('"');
        }
    }

    private static final class Reader {
        private final String s;
        int pos;

        Reader(String s) {
            this.s = s;
        }

        IllegalArgumentException error(String msg) {
            return new IllegalArgumentException("invalid JSON at offset " + pos + ": " + msg);
        }

        void space() {
            while (pos < s.length()) {
                char c = s.charAt(pos);
                if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                    return;
                }
                pos++;
            }
        }

        Object value(int depth) {
            if (depth > MAX_DEPTH) {
                throw error("nested deeper than " + MAX_DEPTH);
            }
            if (pos >= s.length()) {
                throw error("unexpected end");
            }
            char c = s.charAt(pos);
            switch (c) {
                case '{':
                    return object(depth);
                case '[':
                    return array(depth);
                case '"':
                    return string();
                case 't':
                    return literal("true", Boolean.TRUE);
                case 'f':
                    return literal("false", Boolean.FALSE);
                case 'n':
                    return literal("null", null);
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw error("unexpected character '" + c + "'");
            }
        }

        private Object literal(String word, Object v) {
            if (!s.startsWith(word, pos)) {
                throw error("expected " + word);
            }
            pos += word.length();
            return v;
        }

        private Map<String, Object> object(int depth) {
            Map<String, Object> m = new LinkedHashMap<>();
            pos++;
            space();
            if (pos < s.length() && s.charAt(pos) == '}') {
                pos++;
                return m;
            }
            while (true) {
                space();
                if (pos >= s.length() || s.charAt(pos) != '"') {
                    throw error("expected a string key");
                }
                String k = string();
                space();
                expect(':');
                space();
                m.put(k, value(depth + 1));
                space();
                if (pos < s.length() && s.charAt(pos) == ',') {
                    pos++;
                    continue;
                }
                expect('}');
                return m;
            }
        }

        private List<Object> array(int depth) {
            List<Object> l = new ArrayList<>();
            pos++;
            space();
            if (pos < s.length() && s.charAt(pos) == ']') {
                pos++;
                return l;
            }
            while (true) {
                space();
                l.add(value(depth + 1));
                space();
                if (pos < s.length() && s.charAt(pos) == ',') {
                    pos++;
                    continue;
                }
                expect(']');
                return Collections.unmodifiableList(l);
            }
        }

        private void expect(char c) {
            if (pos >= s.length() || s.charAt(pos) != c) {
                throw error("expected '" + c + "'");
            }
            pos++;
        }

        private String string() {
            pos++; // the opening quote
            StringBuilder sb = new StringBuilder();
            while (true) {
                if (pos >= s.length()) {
                    throw error("unterminated string");
                }
                char c = s.charAt(pos++);
                if (c == '"') {
                    return sb.toString();
                }
                if (c < 0x20) {
                    throw error("control character in a string");
                }
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                if (pos >= s.length()) {
                    throw error("unterminated escape");
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case '"', '\\', '/' -> sb.append(e);
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'u' -> {
                        if (pos + 4 > s.length()) {
                            throw error("short \\u escape");
                        }
                        try {
                            sb.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                        } catch (NumberFormatException ex) {
                            throw error("bad \\u escape");
                        }
                        pos += 4;
                    }
                    default -> throw error("bad escape \\" + e);
                }
            }
        }

        private BigDecimal number() {
            int start = pos;
            if (s.charAt(pos) == '-') {
                pos++;
            }
            int intStart = pos;
            digits();
            if (pos == intStart || (s.charAt(intStart) == '0' && pos - intStart > 1)) {
                throw error("bad number");
            }
            if (pos < s.length() && s.charAt(pos) == '.') {
                pos++;
                int f = pos;
                digits();
                if (pos == f) {
                    throw error("bad fraction");
                }
            }
            if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
                pos++;
                if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
                    pos++;
                }
                int x = pos;
                digits();
                if (pos == x) {
                    throw error("bad exponent");
                }
            }
            return new BigDecimal(s.substring(start, pos));
        }

        private void digits() {
            while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') {
                pos++;
            }
        }
    }
}
