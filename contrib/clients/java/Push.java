/*
 * Push.java: send a department's NDJSON feed to esupd, as a department's own system would.
 *
 * An example to read and copy, from docs/integrating.md: Java 17, the JDK alone
 * (java.net.http.HttpClient). Run it as a single-file program, no build step:
 *
 *   ESUP_P12_PASSWORD=secret java Push.java --url https://esup.example:8443 \
 *       --p12 dept.p12 --cacert ca.crt [--batch 500] events.ndjson
 *
 * The department's certificate and key come as one PKCS#12 file (openssl pkcs12 -export, see
 * docs/integrating.md); its password from the environment, never the command line (where
 * ps would show it). esupctl push does the same with a resumable state file: use it in
 * production, or this when the department's system is Java.
 *
 * What esupd answers (docs/protocol.md, "POST /v1/events"), and what this client does:
 *   200  every event has a result, in input order: "accepted" (stored now), "duplicate"
 *        (same dept + id stored before: harmless), "rejected" (not stored; "error" says field,
 *        expected, got). Print them and go on with the next batch.
 *   429  writer queue full, or too many connections for this certificate; 503 esupd not ready
 *        (database unreachable, shutting down): nothing of the batch was stored. Wait
 *        Retry-After seconds and send the SAME batch again.
 *   connection lost, timeout: the batch may or may not have been stored. Send it again:
 *        esupd is idempotent on dept + id, what was stored comes back "duplicate".
 *   400 401 403 413 415 ...: the request itself is wrong; resending will not help: stop.
 *
 * Exit status: 0 nothing rejected, 1 some event rejected, 2 a refusal or usage error, 3 esupd
 * stayed unavailable for 600 s on one batch. Output is the same as push.py's.
 */

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.TrustManagerFactory;

public class Push {
	static final double GIVE_UP_S = 600;

	public static void main(String[] argv) throws Exception {
		Map<String, String> opt = new HashMap<>();
		String file = null;
		for (int i = 0; i < argv.length; i++) {
			if (argv[i].startsWith("--") && i + 1 < argv.length)
				opt.put(argv[i].substring(2), argv[++i]);
			else
				file = argv[i];
		}
		if (file == null || !opt.keySet().containsAll(List.of("url", "p12", "cacert"))) {
			System.err.println("usage: java Push.java --url URL --p12 FILE --cacert CA [--batch N] FILE");
			System.exit(2);
		}
		String url = opt.get("url").replaceAll("/+$", "") + "/v1/events";
		int batchSize = Integer.parseInt(opt.getOrDefault("batch", "500"));

		SSLContext tls;
		List<String> all;
		try {
			tls = tls(opt.get("p12"), opt.get("cacert"));
			all = Files.readAllLines(Path.of(file), StandardCharsets.UTF_8);
		} catch (IOException | GeneralSecurityException e) {
			System.err.println("Push: " + e);
			System.exit(2);
			return;
		}

		// HTTP/1.1: the client keeps the connection alive and reuses it for every batch.
		HttpClient http = HttpClient.newBuilder().sslContext(tls)
			.version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(30)).build();

		// Line number and text of every non-blank line (esupd skips blank lines too).
		List<Integer> lineNo = new ArrayList<>();
		List<String> lines = new ArrayList<>();
		for (int i = 0; i < all.size(); i++)
			if (!all.get(i).isBlank()) {
				lineNo.add(i + 1);
				lines.add(all.get(i));
			}

		long accepted = 0, duplicate = 0, rejected = 0;
		int batches = 0;
		for (int start = 0; start < lines.size(); start += batchSize) {
			int end = Math.min(start + batchSize, lines.size());
			batches++;
			String name = "batch " + batches + " (lines " + lineNo.get(start) + "-" + lineNo.get(end - 1) + ")";
			StringBuilder body = new StringBuilder();
			for (String l : lines.subList(start, end))
				body.append(l).append('\n');
			HttpRequest req = HttpRequest.newBuilder(URI.create(url))
				.header("Content-Type", "application/x-ndjson")
				.timeout(Duration.ofSeconds(120))
				.POST(HttpRequest.BodyPublishers.ofString(body.toString(), StandardCharsets.UTF_8))
				.build();

			HttpResponse<String> resp;
			long firstTry = System.nanoTime();
			for (int backoffs = 0;;) {
				String problem;
				String retryAfter = null;
				try {
					resp = http.send(req, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
					if (resp.statusCode() != 429 && resp.statusCode() != 503)
						break;
					// Nothing of the batch was stored: wait and send the same batch.
					retryAfter = resp.headers().firstValue("Retry-After").orElse(null);
					problem = "HTTP " + resp.statusCode() + " (" + errorMessage(resp.body()) + ")";
				} catch (SSLHandshakeException e) {
					// esupd's certificate not trusted, or ours refused: resending will not help.
					System.out.printf("%s: TLS refused: %s%n", name, e.getMessage());
					System.exit(2);
					return;
				} catch (IOException e) {
					// No answer: stored or not, we cannot tell. Send the same batch again (the
					// client opens a new connection); what was stored comes back "duplicate".
					problem = "connection lost (" + e.getClass().getSimpleName() + ")";
				}
				if ((System.nanoTime() - firstTry) / 1e9 > GIVE_UP_S) {
					System.out.printf("%s: %s; giving up after %.0f s%n", name, problem, GIVE_UP_S);
					System.exit(3);
				}
				// Retry-After when esupd gave one; else exponential backoff with full jitter (a
				// random wait up to 0.5 s, doubling with each such retry up to 30 s).
				double wait;
				String why;
				if (retryAfter != null && retryAfter.matches("[0-9]+")) {
					wait = Double.parseDouble(retryAfter);
					why = "Retry-After";
				} else {
					wait = ThreadLocalRandom.current().nextDouble(Math.min(30.0, 0.5 * Math.pow(2, backoffs++)));
					why = "backoff";
				}
				System.out.printf("%s: %s, retrying in %.1f s (%s)%n", name, problem, wait, why);
				Thread.sleep((long) (wait * 1000));
			}

			if (resp.statusCode() != 200) {
				// 400, 401, 403, 413, 415, ...: the request is wrong; resending will not help.
				System.out.printf("%s: HTTP %d: %s%n", name, resp.statusCode(), resp.body().strip());
				System.exit(2);
			}
			Map<?, ?> result = (Map<?, ?>) new Json(resp.body()).value();
			long a = ((Number) result.get("accepted")).longValue();
			long d = ((Number) result.get("duplicate")).longValue();
			long r = ((Number) result.get("rejected")).longValue();
			accepted += a;
			duplicate += d;
			rejected += r;
			System.out.printf("%s: %d accepted, %d duplicate, %d rejected%n", name, a, d, r);
			// One result per event, in input order: "index" is the event's place in the batch.
			for (Object o : (List<?>) result.get("results")) {
				Map<?, ?> res = (Map<?, ?>) o;
				int line = lineNo.get(start + ((Number) res.get("index")).intValue());
				String id = String.valueOf(res.get("id"));
				if ("rejected".equals(res.get("status"))) {
					Map<?, ?> e = (Map<?, ?>) res.get("error");
					String field = (String) e.get("field");
					System.out.printf("  line %d: rejected %s: %s: expected %s, got %s%n", line, id,
						field.isEmpty() ? "(event)" : field, e.get("expected"), e.get("got"));
				}
				// Unknown fields are stored but warned about: often a misspelled optional field.
				Object warnings = res.get("warnings");
				if (warnings != null)
					for (Object wo : (List<?>) warnings) {
						Map<?, ?> w = (Map<?, ?>) wo;
						System.out.printf("  line %d: warning %s: %s: %s%s%n", line, id, w.get("field"),
							w.get("message"), w.get("nearest") != null ? " (did you mean " + w.get("nearest") + "?)" : "");
					}
			}
		}
		System.out.printf("%d events in %d batches: %d accepted, %d duplicate, %d rejected%n",
			lines.size(), batches, accepted, duplicate, rejected);
		System.exit(rejected > 0 ? 1 : 0);
	}

	/* Mutual TLS: our certificate and key from the PKCS#12 file (through a KeyManagerFactory),
	 * and trust in only the CA that issued esupd's certificate (PEM), not Java's cacerts. */
	static SSLContext tls(String p12, String cacert) throws IOException, GeneralSecurityException {
		char[] password = System.getenv().getOrDefault("ESUP_P12_PASSWORD", "").toCharArray();
		KeyStore keys = KeyStore.getInstance("PKCS12");
		try (InputStream in = new FileInputStream(p12)) {
			keys.load(in, password);
		}
		KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
		kmf.init(keys, password);
		KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
		trust.load(null, null);
		try (InputStream in = new FileInputStream(cacert)) {
			int n = 0;
			for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in))
				trust.setCertificateEntry("ca" + n++, c);
		}
		TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
		tmf.init(trust);
		SSLContext tls = SSLContext.getInstance("TLS");
		tls.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
		return tls;
	}

	/* The "error" of a whole-request refusal: {"error": "..."} or {"error": {...}}. */
	static String errorMessage(String body) {
		try {
			return String.valueOf(((Map<?, ?>) new Json(body).value()).get("error"));
		} catch (RuntimeException e) {
			return body.length() > 200 ? body.substring(0, 200) : body;
		}
	}

	/* Just enough JSON for esupd's answers (the JDK has no parser): objects as Map, arrays as
	 * List, strings, numbers as Long or Double, true, false, null. Use your project's JSON
	 * library (Jackson, Gson, ...) instead. */
	static final class Json {
		private final String s;
		private int i;

		Json(String s) {
			this.s = s;
		}

		Object value() {
			skip();
			char c = s.charAt(i);
			if (c == '{') {
				Map<String, Object> m = new HashMap<>();
				i++;
				for (skip(); s.charAt(i) != '}'; skip()) {
					String k = (String) value();
					skip();
					expect(':');
					m.put(k, value());
					skip();
					if (s.charAt(i) == ',')
						i++;
				}
				i++;
				return m;
			}
			if (c == '[') {
				List<Object> l = new ArrayList<>();
				i++;
				for (skip(); s.charAt(i) != ']'; skip()) {
					l.add(value());
					skip();
					if (s.charAt(i) == ',')
						i++;
				}
				i++;
				return l;
			}
			if (c == '"') {
				StringBuilder b = new StringBuilder();
				for (i++; s.charAt(i) != '"'; i++) {
					char ch = s.charAt(i);
					if (ch != '\\') {
						b.append(ch);
						continue;
					}
					ch = s.charAt(++i);
					switch (ch) {
					case 'n': b.append('\n'); break;
					case 't': b.append('\t'); break;
					case 'r': b.append('\r'); break;
					case 'b': b.append('\b'); break;
					case 'f': b.append('\f'); break;
					case 'u': b.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16)); i += 4; break;
					default: b.append(ch);   // \" \\ \/
					}
				}
				i++;
				return b.toString();
			}
			for (String word : new String[] { "true", "false", "null" })
				if (s.startsWith(word, i)) {
					i += word.length();
					return word.equals("null") ? null : Boolean.valueOf(word);
				}
			int from = i;
			while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0)
				i++;
			String num = s.substring(from, i);
			if (num.isEmpty())
				throw new IllegalArgumentException("bad JSON at " + from);
			return num.matches("-?[0-9]+") ? (Object) Long.valueOf(num) : (Object) Double.valueOf(num);
		}

		private void skip() {
			while (i < s.length() && Character.isWhitespace(s.charAt(i)))
				i++;
		}

		private void expect(char c) {
			if (s.charAt(i++) != c)
				throw new IllegalArgumentException("expected " + c + " at " + (i - 1));
		}
	}
}
