/**
 * Amazon SNS HTTPS deliveries: the message shape and the string SNS signs. Facts relied on (AWS,
 * "Verifying the signatures of Amazon SNS messages",
 * docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html): the string to sign
 * is `Name\nvalue\n` for, in this order, Message, MessageId, Subject (only when present),
 * Timestamp, TopicArn, Type for a Notification, and Message, MessageId, SubscribeURL, Timestamp,
 * Token, TopicArn, Type for a (Un)SubscriptionConfirmation; `SignatureVersion` 1 signs it with
 * SHA1withRSA, 2 with SHA256withRSA; the signature is base64.
 *
 * @module
 */
import { z } from "zod";
import { malformed } from "./bucket_event.ts";

const Common = {
  MessageId: z.string().min(1),
  TopicArn: z.string().min(1),
  Message: z.string(),
  Timestamp: z.string().min(1),
  SignatureVersion: z.enum(["1", "2"]),
  Signature: z.string().min(1),
  SigningCertURL: z.string().min(1),
};

/** An SNS delivery, by `Type`. */
export const SnsMessageSchema = z.discriminatedUnion("Type", [
  z.object({ Type: z.literal("Notification"), Subject: z.string().optional(), ...Common }),
  z.object({
    Type: z.enum(["SubscriptionConfirmation", "UnsubscribeConfirmation"]),
    Token: z.string().min(1),
    SubscribeURL: z.string().min(1),
    ...Common,
  }),
]);

/** An SNS delivery. */
export type SnsMessage = z.infer<typeof SnsMessageSchema>;

/** Whether `body` looks like an SNS delivery (a `Type`, a `TopicArn` and a `Signature`). */
export function isSnsShape(body: Record<string, unknown>): boolean {
  return typeof body.Type === "string" && "TopicArn" in body && "Signature" in body;
}

/**
 * Validates an SNS delivery.
 *
 * @throws a malformed-event error naming the bad field.
 */
export function readSnsMessage(body: unknown): SnsMessage {
  const parsed = SnsMessageSchema.safeParse(body);
  if (!parsed.success) {
    throw malformed(
      `not an SNS message: ${
        parsed.error.issues.map((issue) => `${issue.path.join(".") || "Type"}: ${issue.message}`)
          .join("; ")
      }`,
    );
  }
  return parsed.data;
}

/** The string SNS signed for `message`, as AWS documents it. */
export function stringToSign(message: SnsMessage): string {
  const fields: Array<[string, string | undefined]> = message.Type === "Notification"
    ? [
      ["Message", message.Message],
      ["MessageId", message.MessageId],
      ["Subject", message.Subject],
      ["Timestamp", message.Timestamp],
      ["TopicArn", message.TopicArn],
      ["Type", message.Type],
    ]
    : [
      ["Message", message.Message],
      ["MessageId", message.MessageId],
      ["SubscribeURL", message.SubscribeURL],
      ["Timestamp", message.Timestamp],
      ["Token", message.Token],
      ["TopicArn", message.TopicArn],
      ["Type", message.Type],
    ];
  return fields
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}\n${value}\n`)
    .join("");
}
