/** @jsxImportSource preact */
import { useState } from "preact/hooks";
export function A(props: { name: string }) {
  const [n] = useState(1);
  return <p class="x">{props.nam}{n}</p>;
}
