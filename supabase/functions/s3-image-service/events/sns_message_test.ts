import assert from "node:assert/strict";
import { AppError } from "../../_shared/errors.ts";
import { isSnsShape, readSnsMessage, type SnsMessage, stringToSign } from "./sns_message.ts";

const notification: SnsMessage = {
  Type: "Notification",
  MessageId: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
  TopicArn: "arn:aws:sns:us-west-2:123456789012:MyTopic",
  Subject: "My First Message",
  Message: "Hello world!",
  Timestamp: "2012-05-02T00:54:06.655Z",
  SignatureVersion: "1",
  Signature: "EXAMPLE",
  SigningCertURL:
    "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
};

Deno.test("stringToSign() lists a Notification's fields in AWS's order, Subject only when present", () => {
  assert.equal(
    stringToSign(notification),
    "Message\nHello world!\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n" +
      "Subject\nMy First Message\nTimestamp\n2012-05-02T00:54:06.655Z\n" +
      "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\nNotification\n",
  );
  const { Subject: _subject, ...withoutSubject } = notification;
  assert.doesNotMatch(stringToSign(withoutSubject as SnsMessage), /Subject/);
});

Deno.test("stringToSign() lists a confirmation's fields: SubscribeURL and Token too", () => {
  const confirmation = readSnsMessage({
    ...notification,
    Type: "SubscriptionConfirmation",
    Token: "tok",
    SubscribeURL: "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=tok",
  });
  assert.equal(
    stringToSign(confirmation),
    "Message\nHello world!\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n" +
      "SubscribeURL\nhttps://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&Token=tok\n" +
      "Timestamp\n2012-05-02T00:54:06.655Z\nToken\ntok\n" +
      "TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\nSubscriptionConfirmation\n",
  );
});

Deno.test("readSnsMessage() refuses an unknown Type, a missing field or signature version 3", () => {
  const isMalformed = (error: AppError) => error.code === "malformed_event";
  assert.ok(isSnsShape(notification as unknown as Record<string, unknown>));
  assert.ok(!isSnsShape({ Records: [] }));
  assert.throws(() => readSnsMessage({ ...notification, Type: "Other" }), isMalformed);
  assert.throws(() => readSnsMessage({ ...notification, MessageId: undefined }), isMalformed);
  assert.throws(() => readSnsMessage({ ...notification, SignatureVersion: "3" }), isMalformed);
  assert.throws(
    () => readSnsMessage({ ...notification, Type: "SubscriptionConfirmation" }),
    isMalformed,
  );
});
