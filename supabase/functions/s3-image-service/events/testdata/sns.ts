/**
 * SNS deliveries signed like Amazon SNS signs them, with the test-only key pair in this folder
 * (`sns_test_key.pem`, `sns_test_cert.pem`: self-signed for "sns.test.invalid (test only)",
 * valid until 2126, never trusted by anything but these tests and a local stack that points
 * `EVENTS_SNS_CERT_URL_PREFIX` at a server of it).
 *
 * @module
 */
import { createSign } from "node:crypto";
import { type SnsMessage, stringToSign } from "../sns_message.ts";

const here = new URL(".", import.meta.url);

/** The test certificate (PEM). */
export const TEST_CERT_PEM = Deno.readTextFileSync(new URL("sns_test_cert.pem", here));
/** The test certificate's private key (PEM), for signing only. */
export const TEST_KEY_PEM = Deno.readTextFileSync(new URL("sns_test_key.pem", here));

/** Signs `message` (without Signature) as SNS would, with the test key. */
export function signSns<M extends Omit<SnsMessage, "Signature">>(
  message: M,
): M & { Signature: string } {
  const unsigned = { ...message, Signature: "" } as SnsMessage;
  const signer = createSign(message.SignatureVersion === "1" ? "RSA-SHA1" : "RSA-SHA256");
  signer.update(stringToSign(unsigned), "utf8");
  return { ...message, Signature: signer.sign(TEST_KEY_PEM, "base64") };
}

/** An SNS Notification carrying `payload` (the S3 records JSON), signed. */
export function snsNotification(
  payload: unknown,
  options: { certUrl: string; topicArn?: string; version?: "1" | "2"; subject?: string },
): SnsMessage {
  return signSns({
    Type: "Notification" as const,
    MessageId: crypto.randomUUID(),
    TopicArn: options.topicArn ?? "arn:aws:sns:us-east-1:123456789012:product-images",
    ...(options.subject === undefined ? {} : { Subject: options.subject }),
    Message: JSON.stringify(payload),
    Timestamp: new Date().toISOString(),
    SignatureVersion: options.version ?? "2",
    SigningCertURL: options.certUrl,
  });
}

/** An SNS SubscriptionConfirmation whose SubscribeURL is `subscribeUrl`, signed. */
export function snsSubscriptionConfirmation(
  subscribeUrl: string,
  options: { certUrl: string; topicArn?: string },
): SnsMessage {
  return signSns({
    Type: "SubscriptionConfirmation" as const,
    MessageId: crypto.randomUUID(),
    Token:
      "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
    TopicArn: options.topicArn ?? "arn:aws:sns:us-east-1:123456789012:product-images",
    Message:
      "You have chosen to subscribe to the topic. To confirm the subscription, visit the SubscribeURL included in this message.",
    SubscribeURL: subscribeUrl,
    Timestamp: new Date().toISOString(),
    SignatureVersion: "1" as const,
    SigningCertURL: options.certUrl,
  });
}
